# The Delta Mappers (DeltaEdit and its ablations), each of a training replicate.


rule train_delta_mapper:
    input:
        unpack(mapper_inputs),
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
