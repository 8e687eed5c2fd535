"""Results table in Markdown and image grids of source | edit | target."""

from PIL import Image, ImageDraw, ImageFont

from instructmove.evaluate.settings import METRIC_NAMES

HEADERS = {
    "psnr": "PSNR (dB) ↑",
    "ssim": "SSIM ↑",
    "l1": "L1 ↓",
    "clip_i": "CLIP-I",
    "clip_d": "CLIP-D ↑",
    "clip_t": "CLIP-T ↑",
    "clip_inst": "CLIP-Inst* ↑",
}
TEXT_HEIGHT = 14
BACKGROUND = (255, 255, 255)
INK = (0, 0, 0)


def _cell(value: float | None, metric: str) -> str:
    if value is None:
        return "n/a"
    return f"{value:.2f}" if metric == "psnr" else f"{value:.4f}"


def results_table(summary: dict[str, dict]) -> str:
    """Return a Markdown table with one row per method and one column per metric."""
    header = "| method | examples | " + " | ".join(HEADERS[m] for m in METRIC_NAMES) + " |"
    rule = "|---|---:|" + "---:|" * len(METRIC_NAMES)
    lines = [header, rule]
    for method, entry in summary.items():
        cells = " | ".join(_cell(entry[m], m) for m in METRIC_NAMES)
        lines.append(f"| {method} | {entry['examples']} | {cells} |")
    return "\n".join(lines)


def results_markdown(summary: dict[str, dict], context: dict) -> str:
    """Return the whole results page: what was compared, the table, and what each column means."""
    clip = context["clip"]
    clip_line = (
        f"CLIP metrics computed with the CLIP model in `{clip['model']}`."
        if clip["computed"]
        else f"CLIP metrics not computed: {clip['reason']}."
    )
    width, height = context["resolution"]
    return "\n".join([
        "# Evaluation results",
        "",
        f"Benchmark: `{context['benchmark']}`, {context['examples']} examples. "
        f"Pixel metrics compare each edit with the real target frame at {width}x{height} px "
        "(target and source resized to the edit's size).",
        clip_line,
        "The identity edit returns the source unchanged: it is the floor a method must beat.",
        "",
        results_table(summary),
        "",
        "\\* CLIP-Inst is this project's definition, 2.5 * max(cos(CLIP(edited), CLIP(instruction)), 0) "
        "(CLIPScore against the instruction). It is not the InstructMove paper's CLIP-Inst and its values "
        "are not comparable with the paper's. See docs/evaluation.md.",
        "",
    ])


def _label(draw: ImageDraw.ImageDraw, xy: tuple[int, int], text: str, width: int, font) -> None:
    while text and draw.textlength(text, font=font) > width - 4:
        text = text[:-2] + "…"
    draw.text((xy[0] + 2, xy[1] + 1), text, fill=INK, font=font)


def make_grid(columns: list[tuple[str, list[Image.Image | None]]], instructions: list[str], cell: int) -> Image.Image:
    """Lay out one row per example under a header of column titles, with the instruction above each row.

    A missing image (an example without a target) is left blank.
    """
    font = ImageFont.load_default()
    rows = len(instructions)
    width = cell * len(columns)
    row_height = cell + TEXT_HEIGHT
    grid = Image.new("RGB", (width, TEXT_HEIGHT + rows * row_height), BACKGROUND)
    draw = ImageDraw.Draw(grid)

    for column, (title, _) in enumerate(columns):
        _label(draw, (column * cell, 0), title, cell, font)

    for row, instruction in enumerate(instructions):
        top = TEXT_HEIGHT + row * row_height
        _label(draw, (0, top), instruction, width, font)
        for column, (_, images) in enumerate(columns):
            image = images[row]
            if image is not None:
                # Nearest-neighbour keeps low-resolution edits honest: no smoothing is added.
                grid.paste(image.convert("RGB").resize((cell, cell), Image.Resampling.NEAREST), (column * cell, top + TEXT_HEIGHT))
    return grid
