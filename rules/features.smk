# CLIP image embeddings: of the dataset images themselves, and of the fakes G(s) rendered from their
# codes. Shards line up row for row with the codes shards of the same table.


rule clip_images_shard:
    input:
        images=images_input,
        clip=checkpoint("clip"),
    output:
        f"{OUT}/clip/{{dataset}}/part-{{part}}.parquet",
    params:
        images=images_arg,
        key=images_key,
        clip=spec_arg("clip"),
    log:
        log_path("clip_images_shard/{dataset}/{part}"),
    benchmark:
        bench_path("clip_images_shard/{dataset}/{part}")
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    shell:
        "deltaspace clip-images-shard --images {params.images} --images-key {params.key} "
        "--part {wildcards.part} --rows-per-shard {config[shard_rows]} --clip {params.clip} "
        "--out {output:q} --threads {threads} > {log:q} 2>&1"


rule clip_fakes_shard:
    input:
        codes=f"{OUT}/codes/{FAKES}/part-{{part}}.parquet",
        generator=checkpoint("generator"),
        clip=checkpoint("clip"),
    output:
        f"{OUT}/clip/{FAKES}/part-{{part}}.parquet",
    params:
        generator=spec_arg("generator"),
        clip=spec_arg("clip"),
    log:
        log_path("clip_fakes_shard/{part}"),
    benchmark:
        bench_path("clip_fakes_shard/{part}")
    threads: 1
    resources:
        mem_mb=3000,
        runtime=60,
    shell:
        "deltaspace clip-codes-shard --codes {input.codes:q} --generator {params.generator} "
        "--clip {params.clip} --out {output:q} --threads {threads} > {log:q} 2>&1"
