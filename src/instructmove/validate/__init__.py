"""The `validate` stage: Great Expectations quality gate, quarantine, split, benchmark and export."""
