# deltaspace: DeltaEdit (text-guided image editing in CLIP DeltaSpace) as a reproducible workflow.
# This file is the table of contents: rules/<stage>.smk holds the rules of the stage module
# workflow/deltaspace/stages/<stage>.py (helpers in rules/common.smk); the logic lives in workflow/deltaspace.

from snakemake.utils import min_version

min_version("9.0")


include: "rules/preflight.smk"


configfile: DEFAULT_CONFIG


include: "rules/common.smk"
include: "rules/world.smk"
include: "rules/mini_models.smk"
include: "rules/codes.smk"
include: "rules/features.smk"
include: "rules/collections.smk"
include: "rules/fidelity.smk"
include: "rules/alignment.smk"
include: "rules/relevance.smk"
include: "rules/mapper.smk"
include: "rules/prompt_training.smk"
include: "rules/editing.smk"
include: "rules/evaluate.smk"
include: "rules/figures.smk"
include: "rules/tables.smk"
include: "rules/sweep.smk"
include: "rules/wordings.smk"


rule all:
    input:
        all_outputs(),
    default_target: True
