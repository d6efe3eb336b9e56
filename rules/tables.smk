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


rule table1:
    localrule: True  # seconds of work: on a cluster it runs on the submitting machine, never queued
    conda:
        "../envs/deltaspace.yaml"
    input:
        main=f"{OUT}/tables/table1-{config['evaluation']['table1_dataset']}.csv",
        others=[f"{OUT}/tables/table1-{d}.csv" for d in EVAL_DATASETS],
    output:
        report("results/table1.csv", category="Tables"),
    log:
        "results/logs/table1.log",
    shell:
        "cp {input.main:q} {output:q} 2> {log:q}"
