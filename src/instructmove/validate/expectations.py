"""The quality gate's expectations, built in code so they are versioned with the package.

Two suites run in order. `instructmove_triplets` checks every candidate triplet on its own
(schema, nulls, instruction wording, flow window, frame files). `instructmove_dataset` runs on
the rows that passed, after the split, and checks the caps per video and the split itself.
Each expectation carries `meta.check` (one of `CHECK_NAMES`) and `meta.rule`, the sentence a
quarantine reason ends with.
"""

from instructmove.pairs.settings import PairsSettings
from instructmove.validate.frames import FRAME_OK
from instructmove.validate.gx_import import gxe
from instructmove.validate.settings import ValidateSettings

TRIPLETS_SUITE = "instructmove_triplets"
DATASET_SUITE = "instructmove_dataset"

# A null turns an integer column into float64 in pandas; nulls are reported by `not_null`.
_INT_TYPES = ["int64", "int32", "int16", "float64"]
_FLOAT_TYPES = ["float64", "float32", "int64", "int32"]

# Columns the gate and the later stages read, with the types the data contract gives them.
SCHEMA = {
    **{column: ["str"] for column in (
        "pair_id", "video_id", "source_path", "target_path", "instruction", "caption_before",
        "caption_after", "status", "backend",
    )},
    **{column: _INT_TYPES for column in ("width", "height")},
    **{column: _FLOAT_TYPES for column in (
        "t_source", "t_target", "flow_mean", "flow_median", "flow_p95", "camera_tx", "camera_ty",
        "camera_zoom",
    )},
}


def _meta(check: str, rule: str, context: str | None = None) -> dict:
    """Tag an expectation; `context` names a column that quarantine reasons quote as well."""
    meta = {"check": check, "rule": rule}
    if context:
        meta["context"] = context
    return meta


def schema_expectations() -> list:
    expectations = [
        gxe.ExpectTableColumnsToMatchSet(
            column_set=sorted(SCHEMA), exact_match=False,
            meta=_meta("schema", "required columns must be present"),
        )
    ]
    for column, types in SCHEMA.items():
        expectations.append(gxe.ExpectColumnValuesToBeInTypeList(
            column=column, type_list=types, meta=_meta("schema", f"must be of type {' or '.join(types)}"),
        ))
    return expectations


def row_expectations(settings: ValidateSettings, pairs: PairsSettings) -> list:
    """Build the per-row checks of the candidate triplets."""
    expectations = [
        gxe.ExpectColumnValuesToNotBeNull(column=column, meta=_meta("not_null", "must not be null"))
        for column in settings.not_null_columns
    ]
    expectations += [
        gxe.ExpectColumnValuesToBeUnique(column="pair_id", meta=_meta("unique_pair_id", "appears more than once")),
        gxe.ExpectColumnValuesToBeBetween(
            column="instruction_words", min_value=settings.min_words, max_value=settings.max_words,
            meta=_meta("instruction_words", f"must be {settings.min_words} to {settings.max_words} words",
                       context="instruction"),
        ),
        gxe.ExpectColumnValueLengthsToBeBetween(
            column="instruction", min_value=settings.min_chars, max_value=settings.max_chars,
            meta=_meta("instruction_chars", f"must be {settings.min_chars} to {settings.max_chars} characters"),
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="instruction_verb", value_set=settings.verbs,
            meta=_meta("instruction_verb", "is not in the verb list validate.verbs", context="instruction"),
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="flow_mean", min_value=pairs.min_flow, max_value=pairs.max_flow,
            meta=_meta("flow_window", f"is outside the mining window [{pairs.min_flow}, {pairs.max_flow}] px"),
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="source_frame", value_set=[FRAME_OK], meta=_meta("frames_decode", "source frame is unusable"),
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="target_frame", value_set=[FRAME_OK], meta=_meta("frames_decode", "target frame is unusable"),
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="pixel_diff", min_value=settings.min_pixel_diff, strict_min=True,
            meta=_meta("pixel_difference", f"must exceed validate.min_pixel_diff = {settings.min_pixel_diff}"),
        ),
    ]
    if settings.refusal_patterns:
        expectations.append(gxe.ExpectColumnValuesToNotMatchRegexList(
            column="instruction", regex_list=settings.refusal_patterns,
            meta=_meta("not_refusal", "reads as a refusal or an apology (validate.refusal_patterns)"),
        ))
    return expectations


def triplet_expectations(settings: ValidateSettings, pairs: PairsSettings) -> list:
    return schema_expectations() + row_expectations(settings, pairs)


def dataset_expectations(settings: ValidateSettings) -> list:
    """Build the checks of the accepted rows as a whole: caps per video, the split, the row count."""
    return [
        gxe.ExpectColumnValuesToBeBetween(
            column="instruction_repeat_rank", max_value=settings.max_instruction_repeats,
            meta=_meta("instruction_repeats",
                       f"repeats an instruction of its video more than {settings.max_instruction_repeats} times",
                       context="instruction"),
        ),
        gxe.ExpectColumnValuesToBeBetween(
            column="video_pair_rank", max_value=settings.max_pairs_per_video,
            meta=_meta("pairs_per_video", f"is beyond the cap of {settings.max_pairs_per_video} pairs per video",
                       context="video_id"),
        ),
        gxe.ExpectColumnValuesToBeInSet(
            column="video_split_count", value_set=[1],
            meta=_meta("disjoint_splits", "video appears in more than one split", context="video_id"),
        ),
        gxe.ExpectTableRowCountToBeBetween(
            min_value=settings.min_accepted_pairs,
            meta=_meta("accepted_rows", f"fewer than validate.min_accepted_pairs = {settings.min_accepted_pairs}"
                                        " triplets passed the per-row checks"),
        ),
    ]
