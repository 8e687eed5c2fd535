"""Measure what Prefect, DVC and MLflow add to a pipeline run.

    .venv/bin/python bench/overhead.py                   # the development clips beside the checkout
    .venv/bin/python bench/overhead.py --videos DIR --clips a.mp4 b.mp4 --json out.json

Builds a throwaway project with these clips and the settings of the pipeline tests, and wraps
each stage command in dvc.yaml in a timer. Then:
1. one real run of the pipeline flow: overhead is its wall time minus the wall time of the six
   stage commands inside it, as a share of the run, measured in the same run so that the load
   of a shared machine affects both terms alike;
2. an unchanged rerun in the same process, then two as fresh `python flows/pipeline.py`
   processes: one that starts its own temporary Prefect server, one pointed at the running one.
   Each must execute no stage and still record one parent MLflow run.
With --plain, a second project also runs the six `instructmove <stage>` commands without
Prefect, DVC or a parent MLflow run, for comparison.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO_ROOT), str(REPO_ROOT / "tests")]

DEFAULT_VIDEOS = REPO_ROOT.parent / "shared" / "data" / "videos"
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "MLFLOW_DISABLE_TELEMETRY": "true",
    "DVC_NO_ANALYTICS": "1", "DO_NOT_TRACK": "1", "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
}


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - started


def pipeline_runs(root: Path) -> int:
    """Count the parent MLflow runs named `pipeline` in the project's store."""
    import mlflow
    from mlflow.tracking import MlflowClient

    from instructmove import tracking

    mlflow.set_tracking_uri(tracking.resolve_uri("sqlite:///mlflow.db", root))
    experiment = MlflowClient().get_experiment_by_name("instructmove")
    if experiment is None:
        return 0
    runs = MlflowClient().search_runs([experiment.experiment_id], "tags.`instructmove.flow` = 'pipeline'")
    return len(runs)


def run_plain(root: Path) -> dict[str, float]:
    """Run the six stage commands directly; return each one's wall time."""
    from instructmove import tracking

    seconds = {}
    command = str(Path(sys.executable).parent / "instructmove")
    for stage in tracking.STAGES:
        _, seconds[stage] = timed(subprocess.run, [command, stage], cwd=root, check=True, capture_output=True)
    return seconds


def warm_up_prefect() -> float:
    """Start Prefect's temporary server with an empty flow, so no measured run pays for it."""
    from prefect import flow

    @flow(name="warm-up")
    def warm_up() -> None:
        return None

    return timed(warm_up)[1]


def running_api_url() -> str:
    """URL of the Prefect API this process uses: the configured server or its temporary one."""
    if os.environ.get("PREFECT_API_URL"):
        return os.environ["PREFECT_API_URL"]
    from prefect.server.api.server import SubprocessASGIServer

    return SubprocessASGIServer().api_url


TIMER = """import json, subprocess, sys, time
started = time.perf_counter()
code = subprocess.call(sys.argv[1:])
with open(".bench_stage_seconds.jsonl", "a") as handle:
    handle.write(json.dumps({"stage": sys.argv[-1], "seconds": time.perf_counter() - started}) + "\\n")
sys.exit(code)
"""


def time_stage_commands(root: Path) -> None:
    """Wrap each stage command of the project's dvc.yaml in a timer that appends its wall time to a file."""
    import yaml

    (root / "bench_timer.py").write_text(TIMER)
    pipeline_file = root / "dvc.yaml"
    definition = yaml.safe_load(pipeline_file.read_text())
    for stage in definition["stages"].values():
        stage["cmd"] = f"{Path(sys.executable)} bench_timer.py {stage['cmd']}"
    pipeline_file.write_text(yaml.safe_dump(definition, sort_keys=False))
    subprocess.run(["git", "add", "-A"], cwd=root, check=True, capture_output=True)
    subprocess.run(["git", "-c", "user.email=bench@example.invalid", "-c", "user.name=bench", "commit", "--quiet",
                    "-m", "time the stage commands"], cwd=root, check=True, capture_output=True)


def command_seconds(root: Path) -> dict[str, float]:
    path = root / ".bench_stage_seconds.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []
    return {record["stage"]: record["seconds"] for record in records}


def measure(videos: list[Path], workdir: Path, plain: bool) -> dict:
    from flows.pipeline import pipeline
    from helpers_project import make_project

    flow_root = make_project(workdir / "flow", videos)
    time_stage_commands(flow_root)
    figures = {"clips": [video.name for video in videos], "prefect_server_start_s": warm_up_prefect()}

    results, figures["real_run_s"] = timed(pipeline, root=str(flow_root))
    figures["real_stage_s"] = {result.stage: round(result.seconds, 2) for result in results}
    figures["command_s"] = {stage: round(value, 2) for stage, value in command_seconds(flow_root).items()}
    figures["command_total_s"] = sum(figures["command_s"].values())
    figures["overhead_s"] = figures["real_run_s"] - figures["command_total_s"]
    figures["overhead_fraction"] = figures["overhead_s"] / figures["real_run_s"]
    runs_before = pipeline_runs(flow_root)

    rerun, figures["rerun_in_process_s"] = timed(pipeline, root=str(flow_root))
    figures["rerun_stages_executed"] = [result.stage for result in rerun if result.ran]

    # A fresh process starts its own temporary Prefect server unless PREFECT_API_URL names a running one.
    environment = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    command = [sys.executable, str(REPO_ROOT / "flows" / "pipeline.py"), "--root", str(flow_root)]
    _, figures["rerun_cli_s"] = timed(subprocess.run, command, env=environment, check=True, capture_output=True)
    environment["PREFECT_API_URL"] = running_api_url()
    _, figures["rerun_cli_server_s"] = timed(subprocess.run, command, env=environment, check=True,
                                             capture_output=True)
    figures["rerun_mlflow_parent_runs"] = pipeline_runs(flow_root) - runs_before

    if plain:
        plain_root = make_project(workdir / "plain", videos)
        figures["plain_stage_s"] = {stage: round(value, 2) for stage, value in run_plain(plain_root).items()}
        figures["plain_total_s"] = sum(figures["plain_stage_s"].values())
    return figures


def report(figures: dict) -> str:
    lines = [
        f"clips: {', '.join(figures['clips'])}",
        f"Prefect temporary server start (excluded below): {figures['prefect_server_start_s']:.1f} s",
        f"real run through Prefect + DVC + MLflow: {figures['real_run_s']:.1f} s",
        f"the six stage commands within that run:  {figures['command_total_s']:.1f} s",
        f"overhead: {figures['overhead_s']:.1f} s = {figures['overhead_fraction']:.1%} of the real run",
        f"unchanged rerun, same process: {figures['rerun_in_process_s']:.1f} s, "
        f"stages executed: {figures['rerun_stages_executed'] or 'none'}",
        f"unchanged rerun, fresh `python flows/pipeline.py` with its own temporary Prefect server: "
        f"{figures['rerun_cli_s']:.1f} s",
        f"unchanged rerun, fresh `python flows/pipeline.py` with PREFECT_API_URL set to a running server: "
        f"{figures['rerun_cli_server_s']:.1f} s",
        f"parent MLflow runs recorded by the three reruns: {figures['rerun_mlflow_parent_runs']}",
        "",
        "| stage | task in the flow (s) | its command (s) | command run plainly (s) |",
        "|---|---|---|---|",
    ]
    for stage, seconds in figures["real_stage_s"].items():
        plain = figures.get("plain_stage_s", {}).get(stage)
        plain_text = f"{plain:.1f}" if plain is not None else "not run"
        lines.append(f"| {stage} | {seconds:.1f} | {figures['command_s'].get(stage, 0):.1f} | {plain_text} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Measure the overhead of Prefect, DVC and MLflow on a pipeline run.")
    parser.add_argument("--videos", type=Path, default=DEFAULT_VIDEOS, help="folder with the clips")
    parser.add_argument("--clips", nargs="+", default=None, help="clip file names in that folder "
                        "(default: the short clips of the pipeline tests)")
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this JSON file")
    parser.add_argument("--plain", action="store_true", help="also run the six stage commands in a second "
                        "project without Prefect, DVC or a parent MLflow run, for comparison")
    args = parser.parse_args(argv)
    for key, value in OFFLINE_ENV.items():
        os.environ.setdefault(key, value)

    from helpers_project import FAST_CLIPS

    videos = [args.videos / name for name in (args.clips or FAST_CLIPS)]
    missing = [str(video) for video in videos if not video.is_file()]
    if missing:
        parser.error(f"clips not found: {missing}; pass --videos DIR and --clips NAMES")

    with tempfile.TemporaryDirectory(prefix="instructmove-overhead-") as workdir:
        os.environ.setdefault("PREFECT_HOME", str(Path(workdir) / "prefect"))
        figures = measure(videos, Path(workdir), args.plain)
    print(report(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
