# Editing: the evaluation set of each dataset, every method's edits of it for every evaluation prompt,
# and the editor bundle of `deltaspace edit`.


rule evaluation_set:
    input:
        unpack(evaluation_set_inputs),
    output:
        f"{OUT}/evaluation/{{dataset}}.parquet",
    params:
        args=evaluation_set_args,
    log:
        log_path("evaluation_set/{dataset}"),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "deltaspace evaluation-set {params.args} --out {output:q} > {log:q} 2>&1"


rule edit_images:
    input:
        unpack(method_inputs),
        evaluation_set=f"{OUT}/evaluation/{{dataset}}.parquet",
    output:
        directory(f"{OUT}/edits/{{dataset}}/{{method}}{{replicate}}"),  # with the mappers of that replicate
    params:
        args=edit_args,
    log:
        log_path("edit_images/{dataset}/{method}{replicate}"),
    benchmark:
        bench_path("edit_images/{dataset}/{method}{replicate}")
    # one job per dataset x method: parallel jobs use the cores better than a second thread per job
    # (synthesis at batch 256 and PNG encoding gain little from it)
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    shell:
        "deltaspace edit-images --evaluation-set {input.evaluation_set:q} {params.args} --out {output:q} "
        "--threads {threads} > {log:q} 2>&1"


# Table 5's inference time: one method's edits timed on Table 1's dataset (after a warm-up, batch 1 and batched).
rule time_inference:
    input:
        unpack(method_inputs),
        evaluation_set=f"{OUT}/evaluation/{config['evaluation']['table1_dataset']}.parquet",
    output:
        timing_path("{method}"),
    params:
        args=time_inference_args,
    log:
        log_path("time_inference/{method}"),
    threads: 1  # the table names the threads; one, as every edit job here
    resources:
        mem_mb=4000,
        runtime=30,
    shell:
        "deltaspace time-inference --evaluation-set {input.evaluation_set:q} {params.args} --out {output:q} "
        "--threads {threads} > {log:q} 2>&1"


rule editor_bundle:
    localrule: True  # seconds of work: on a cluster it runs on the submitting machine, never queued
    input:
        unpack(bundle_inputs),
    output:
        f"{OUT}/models/deltaedit.json",
    params:
        args=bundle_args,
    log:
        log_path("editor_bundle"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "deltaspace editor-bundle {params.args} --out {output:q} > {log:q} 2>&1"
