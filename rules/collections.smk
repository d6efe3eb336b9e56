# Collections: the manifest of a codes or CLIP collection, written last once every shard is checked.


rule collection_manifest:
    localrule: True  # seconds of work: on a cluster it runs on the submitting machine, never queued
    input:
        manifest_shards,
    output:
        f"{OUT}/{{kind}}/{{collection}}/manifest.json",
    params:
        folder=manifest_folder,
        args=manifest_args,
    log:
        log_path("collection_manifest/{kind}/{collection}"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    shell:
        "deltaspace collection-manifest --folder {params.folder:q} {params.args} > {log:q} 2>&1"
