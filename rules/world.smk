# Mini world: render the datasets as PNG folders with their true attributes.
# (In the real world this does not run: the user's image folders are used.)


rule render_dataset:
    output:
        directory(f"{OUT}/world/{{dataset}}"),
    params:
        settings=dataset_settings,
    log:
        log_path("render_dataset/{dataset}"),
    benchmark:
        bench_path("render_dataset/{dataset}")
    threads: 1
    resources:
        mem_mb=3000,
        runtime=20,
    shell:
        "deltaspace render-dataset --out {output:q} --name {wildcards.dataset} {params.settings} "
        "--threads {threads} > {log:q} 2>&1"
