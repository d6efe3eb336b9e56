# Editing with DeltaEdit: R_s, the Delta Mappers (DeltaEdit and its ablations), the evaluation set,
# and every method's edits of it for every evaluation prompt.


rule relevance:
    input:
        generator=model_checkpoint("generator"),
        clip=model_checkpoint("clip"),
        fakes=manifest("codes", FAKES),
    output:
        rs=f"{OUT}/relevance/rs.npy",
        stats=f"{OUT}/relevance/s_stats.npz",
        info=f"{OUT}/relevance/rs.json",
    params:
        args=relevance_args(),
    log:
        log_path("relevance"),
    benchmark:
        bench_path("relevance")
    threads: config["threads"]
    resources:
        mem_mb=4000,
        runtime=120,
    shell:
        "deltaspace relevance {params.args} --out {output.rs:q} --stats {output.stats:q} "
        "--info {output.info:q} --threads {threads} > {log:q} 2>&1"


rule train_delta_mapper:
    input:
        tables=mapper_inputs,
        generator=model_checkpoint("generator"),
    output:
        mapper_checkpoint("{mapper}", "{replicate}"),  # replicate: "" or ".seed<k>", trained with seed + k
    params:
        args=mapper_args,
    log:
        log_path("train_delta_mapper/{mapper}{replicate}"),
    benchmark:
        bench_path("train_delta_mapper/{mapper}{replicate}")
    priority: CRITICAL_PATH
    threads: config["threads"]
    resources:
        mem_mb=6000,
        runtime=240,
    shell:
        "deltaspace train-delta-mapper {params.args} --out {output:q} --threads {threads} > {log:q} 2>&1"


rule evaluation_set:
    input:
        unpack(evaluation_set_inputs),
        generator=model_checkpoint("generator"),
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
        generator=model_checkpoint("generator"),
        clip=model_checkpoint("clip"),
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


rule editor_bundle:
    localrule: True  # seconds of work: on a cluster it runs on the submitting machine, never queued
    input:
        unpack(bundle_inputs),
    output:
        f"{OUT}/models/deltaedit.json",
    params:
        args=cli_flags({"method": method_spec(bundle_method()), "encoder": model_spec("encoder")}),
    log:
        log_path("editor_bundle"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    shell:
        "deltaspace editor-bundle {params.args} --out {output:q} > {log:q} 2>&1"
