# Latent codes: encoder inversion of every dataset image, and the generator's fakes.
# One job per shard; the manifest rule checks the shards and is written last.


rule invert_shard:
    input:
        images=images_input,
        generator=checkpoint("generator"),
        encoder=checkpoint("encoder"),
    output:
        f"{OUT}/codes/{{dataset}}/part-{{part}}.parquet",
    params:
        images=images_arg,
        key=images_key,
        train_count=train_count,
        generator=spec_arg("generator"),
        encoder=spec_arg("encoder"),
    log:
        log_path("invert_shard/{dataset}/{part}"),
    benchmark:
        bench_path("invert_shard/{dataset}/{part}")
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    shell:
        "deltaspace invert-shard --images {params.images} --images-key {params.key} --part {wildcards.part} "
        "--rows-per-shard {config[shard_rows]} --train-count {params.train_count} "
        "--generator {params.generator} --encoder {params.encoder} --out {output:q} "
        "--threads {threads} > {log:q} 2>&1"


rule sample_shard:
    input:
        generator=checkpoint("generator"),
    output:
        f"{OUT}/codes/{FAKES}/part-{{part}}.parquet",
    params:
        generator=spec_arg("generator"),
    log:
        log_path("sample_shard/{part}"),
    benchmark:
        bench_path("sample_shard/{part}")
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    shell:
        "deltaspace sample-shard --generator {params.generator} --part {wildcards.part} "
        "--rows-per-shard {config[shard_rows]} --count {config[fakes][count]} --seed {config[seed]} "
        "--truncation {config[fakes][truncation]} --out {output:q} --threads {threads} > {log:q} 2>&1"


rule table_manifest:
    input:
        manifest_shards,
    output:
        f"{OUT}/{{kind}}/{{table}}/manifest.json",
    params:
        rows=manifest_rows,
        shards=manifest_shards_arg,
        info=manifest_info_arg,
    log:
        log_path("table_manifest/{kind}/{table}"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "deltaspace table-manifest --folder $(dirname {output:q}) --shards {params.shards} "
        "--rows {params.rows} --info {params.info} > {log:q} 2>&1"
