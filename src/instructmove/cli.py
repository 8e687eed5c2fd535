"""Command line: one command per DVC stage, plus `edit`, `export` and `check-params`.

    instructmove ingest            # what `dvc repro -s ingest` runs
    instructmove edit --image frame.png --instruction "Turn the head to the left" --out edited.png
"""

import argparse
import importlib
import logging
import sys

from instructmove.config import ConfigError, load_params
from instructmove.errors import StageError
from instructmove.layout import error_file
from instructmove.logs import setup_logging

log = logging.getLogger("instructmove")

# Stage name -> "module:function"; each function takes the loaded Params.
STAGE_ENTRIES = {
    "ingest": "instructmove.video.ingest:run",
    "pairs": "instructmove.pairs.stage:run",
    "instruct": "instructmove.instruct.stage:run",
    "validate": "instructmove.validate.stage:run",
    "train": "instructmove.model.train:run",
    "evaluate": "instructmove.evaluate.stage:run",
}


def _load(entry: str):
    module_name, function_name = entry.split(":")
    return getattr(importlib.import_module(module_name), function_name)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="instructmove", description=__doc__.splitlines()[0])
    parser.add_argument("--params", default="params.yaml", help="path to params.yaml (default: %(default)s)")
    parser.add_argument("--log-level", default=None, help="logging level, e.g. DEBUG (default: INFO)")
    commands = parser.add_subparsers(dest="command", required=True)

    for stage in STAGE_ENTRIES:
        commands.add_parser(stage, help=f"run the {stage} stage with its params.yaml section")

    commands.add_parser("check-params", help="validate params.yaml and exit")

    edit = commands.add_parser("edit", help="edit one image with a trained pipeline")
    edit.add_argument("--image", required=True, help="source image file")
    edit.add_argument("--instruction", required=True, help="editing instruction, e.g. 'Raise the left arm'")
    edit.add_argument("--mask", default=None, help="optional mask image: white pixels may change, black stay")
    edit.add_argument("--control", default=None, help="optional ControlNet condition image (edges or sketch)")
    edit.add_argument("--pipeline", default="models/pipeline", help="saved pipeline folder (default: %(default)s)")
    edit.add_argument("--image-guidance", type=float, default=1.5, help="image guidance scale (default: %(default)s)")
    edit.add_argument("--guidance", type=float, default=7.5, help="text guidance scale (default: %(default)s)")
    edit.add_argument("--steps", type=int, default=50, help="DDIM denoising steps (default: %(default)s)")
    edit.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    edit.add_argument("--out", required=True, help="output PNG path")

    export = commands.add_parser("export", help="export accepted triplets for other tools")
    export.add_argument("--format", choices=["ip2p", "webdataset"], default="ip2p",
                        help="ip2p: Parquet with original_image, edit_prompt, edited_image; webdataset: tar shards")
    export.add_argument("--out", default="data/export", help="output folder (default: %(default)s)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging(args.log_level)
    try:
        params = load_params(args.params)
        if args.command == "check-params":
            log.info("%s is valid", args.params)
            return 0
        if args.command in STAGE_ENTRIES:
            _load(STAGE_ENTRIES[args.command])(params)
        elif args.command == "edit":
            _load("instructmove.model.edit:run")(args)
        elif args.command == "export":
            _load("instructmove.validate.export:run")(params, args.format, args.out)
    except (ConfigError, StageError) as error:
        log.error("%s", error)
        if args.command in STAGE_ENTRIES:
            _record_error(args.command, error)
        return 2 if isinstance(error, ConfigError) else 1
    return 0


def _record_error(stage: str, error: Exception) -> None:
    """Store the message for the flow, because DVC reports only 'failed to reproduce'."""
    path = error_file(stage)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(str(error))


if __name__ == "__main__":
    sys.exit(main())
