# The paper's tables, built from the measured results (published values beside them).


rule table1_dataset:
    localrule: True  # seconds of work: on a cluster it runs on the submitting machine, never queued
    input:
        results=metrics_paths("{dataset}"),
        figures=figure_paths,
    output:
        table=f"{OUT}/tables/table1-{{dataset}}.csv",
        per_prompt=f"{OUT}/tables/table1-{{dataset}}-per-prompt.csv",
    params:
        args=table1_args,
    log:
        log_path("table1/{dataset}"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "deltaspace table1 {params.args} --out {output.table:q} --per-prompt {output.per_prompt:q} > {log:q} 2>&1"


# The paper's Table 1 is measured on FFHQ: results/table1.csv is the table of
# evaluation.table1_dataset and needs no other dataset's evaluation. The other datasets' tables
# (mini-CelebA-HQ: the same methods on a shifted distribution) are part of the default target.
# The per-prompt table sits beside each dataset's table, in results/<world>/tables/.
# results/table1.csv is a copy of the table of the world last run (its `world` column says which); each
# world's own tables stay in results/<world>/tables/, so a mini and a real run never overwrite each other.
rule table1:
    localrule: True  # seconds of work: on a cluster it runs on the submitting machine, never queued
    input:
        f"{OUT}/tables/table1-{config['evaluation']['table1_dataset']}.csv",
    output:
        report("results/table1.csv", category="Tables"),
    log:
        log_path("table1"),
    shell:
        "cp {input:q} {output:q} 2> {log:q}"


# The seed spread of Table 1 (a separate target: two more trainings of each mapper with the default 3 seeds):
# every retrained method measured with each training seed (evaluation.seeds), mean and standard deviation
# over the seeds per metric, beside the bootstrap interval over images.
rule table1_seeds_dataset:
    localrule: True  # seconds of work: on a cluster it runs on the submitting machine, never queued
    input:
        seed_results_inputs,
    output:
        f"{OUT}/tables/table1-seeds-{{dataset}}.csv",
    params:
        args=table1_seeds_args,
    log:
        log_path("table1_seeds/{dataset}"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "deltaspace table1-seeds {params.args} --out {output:q} > {log:q} 2>&1"


rule table1_seeds:
    localrule: True
    input:
        f"{OUT}/tables/table1-seeds-{config['evaluation']['table1_dataset']}.csv",
    output:
        report("results/table1-seeds.csv", category="Tables"),
    log:
        log_path("table1_seeds"),
    shell:
        "cp {input:q} {output:q} 2> {log:q}"


rule claims:
    localrule: True  # seconds of work: on a cluster it runs on the submitting machine, never queued
    input:
        unpack(claims_inputs),
    output:
        report(f"{OUT}/claims.md", category="Tables"),
    params:
        args=claims_args,
    log:
        log_path("claims"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "deltaspace claims {params.args} --out {output:q} > {log:q} 2>&1"


# results/claims.md: the claims of the world last run, beside results/table1.csv.
rule claims_latest:
    localrule: True
    input:
        f"{OUT}/claims.md",
    output:
        "results/claims.md",
    log:
        log_path("claims_latest"),
    shell:
        "cp {input:q} {output:q} 2> {log:q}"


# Table 5 (time efficiency): pre-processing and training times from the benchmark files of the jobs that made
# each method's artefacts, inference times from time_inference; results/table5.csv is the world's copy, as Table 1.
rule table5_world:
    localrule: True  # seconds of work: on a cluster it runs on the submitting machine, never queued
    input:
        unpack(table5_inputs),
    output:
        table=f"{OUT}/tables/table5.csv",
        claims=f"{OUT}/tables/table5-claims.md",
    params:
        args=table5_args,
    log:
        log_path("table5"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "deltaspace table5 {params.args} --out {output.table:q} --claims {output.claims:q} > {log:q} 2>&1"


rule table5:
    localrule: True
    input:
        f"{OUT}/tables/table5.csv",
    output:
        report("results/table5.csv", category="Tables"),
    log:
        log_path("table5_copy"),
    shell:
        "cp {input:q} {output:q} 2> {log:q}"
