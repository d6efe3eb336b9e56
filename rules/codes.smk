# Latent codes: encoder inversion of every dataset image, and the generator's fakes. One job per shard;
# the collection's manifest (rules/collections.smk) checks the shards and is written last.


rule invert_shard:
    input:
        images=images_input,
        generator=model_checkpoint("generator"),
        encoder=model_checkpoint("encoder"),
    output:
        f"{OUT}/codes/{{dataset}}/part-{{part}}.parquet",
    params:
        args=invert_args,
    log:
        log_path("invert_shard/{dataset}/{part}"),
    benchmark:
        bench_path("invert_shard/{dataset}/{part}")
    priority: CRITICAL_PATH
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
        gpu=0,  # GPU work; a site with GPUs raises it in its profile (workflow/profiles/slurm)
    shell:
        "deltaspace invert-shard --part {wildcards.part} {params.args} --out {output:q} "
        "--threads {threads} > {log:q} 2>&1"


rule sample_shard:
    input:
        generator=model_checkpoint("generator"),
    output:
        f"{OUT}/codes/{FAKES}/part-{{part}}.parquet",
    params:
        args=sample_args,
    log:
        log_path("sample_shard/{part}"),
    benchmark:
        bench_path("sample_shard/{part}")
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
        gpu=0,  # GPU work; a site with GPUs raises it in its profile (workflow/profiles/slurm)
    shell:
        "deltaspace sample-shard --part {wildcards.part} {params.args} --out {output:q} "
        "--threads {threads} > {log:q} 2>&1"
