# The paper's tables, built from the measured results (published values beside them).


rule table1_dataset:
    localrule: True  # seconds of work: on a cluster it runs on the submitting machine, never queued
    conda:
        "../envs/deltaspace.yaml"
    input:
        results=[f"{OUT}/metrics/{{dataset}}/{m}.jsonl" for m in METHODS],
        figures=figure_paths,
    output:
        f"{OUT}/tables/table1-{{dataset}}.csv",
    params:
        args=table1_args,
    log:
        log_path("table1/{dataset}"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "deltaspace table1 {params.args} --out {output:q} > {log:q} 2>&1"


# The paper's Table 1 is measured on FFHQ: results/table1.csv is the table of
# evaluation.table1_dataset and needs no other dataset's evaluation. The other datasets' tables
# (mini-CelebA-HQ: the same methods on a shifted distribution) are part of the default target.
rule table1:
    localrule: True  # seconds of work: on a cluster it runs on the submitting machine, never queued
    conda:
        "../envs/deltaspace.yaml"
    input:
        f"{OUT}/tables/table1-{config['evaluation']['table1_dataset']}.csv",
    output:
        report("results/table1.csv", category="Tables"),
    log:
        "results/logs/table1.log",
    shell:
        "cp {input:q} {output:q} 2> {log:q}"
