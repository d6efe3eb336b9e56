# CLIP image embeddings: of the dataset images themselves, and of the fakes G(s) rendered from their
# codes. Shards line up row for row with the codes shards of the same collection.


rule clip_images_shard:
    input:
        images=images_input,
        clip=model_checkpoint("clip"),
    output:
        f"{OUT}/clip/{{dataset}}/part-{{part}}.parquet",
    params:
        args=clip_images_args,
    log:
        log_path("clip_images_shard/{dataset}/{part}"),
    benchmark:
        bench_path("clip_images_shard/{dataset}/{part}")
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
        gpu=0,  # GPU work; a site with GPUs raises it in its profile (workflow/profiles/slurm)
    shell:
        "deltaspace clip-images-shard --part {wildcards.part} {params.args} --out {output:q} "
        "--threads {threads} > {log:q} 2>&1"


rule clip_fakes_shard:
    input:
        codes=f"{OUT}/codes/{FAKES}/part-{{part}}.parquet",
        generator=model_checkpoint("generator"),
        clip=model_checkpoint("clip"),
    output:
        f"{OUT}/clip/{FAKES}/part-{{part}}.parquet",
    params:
        args=clip_codes_args,
    log:
        log_path("clip_fakes_shard/{part}"),
    benchmark:
        bench_path("clip_fakes_shard/{part}")
    threads: 1
    resources:
        mem_mb=3000,
        runtime=60,
        gpu=0,  # GPU work; a site with GPUs raises it in its profile (workflow/profiles/slurm)
    shell:
        "deltaspace clip-codes-shard --codes {input.codes:q} {params.args} --out {output:q} "
        "--threads {threads} > {log:q} 2>&1"
