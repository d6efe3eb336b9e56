# deltaspace: DeltaEdit (text-guided image editing in CLIP DeltaSpace) as a reproducible workflow.
# This file is the table of contents; the stages live in rules/, the logic in workflow/deltaspace.

from snakemake.utils import min_version

min_version("9.0")


include: "rules/preflight.smk"


configfile: DEFAULT_CONFIG


include: "rules/common.smk"
include: "rules/world.smk"
include: "rules/codes.smk"
include: "rules/features.smk"
include: "rules/report.smk"
include: "rules/alignment.smk"
include: "rules/editing.smk"
include: "rules/evaluation.smk"
include: "rules/tables.smk"
include: "rules/sweep.smk"


rule all:
    input:
        all_outputs(),
    default_target: True
