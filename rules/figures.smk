# Edit grids: for each dataset, one labelled figure per method (input, reconstruction, one column per prompt).


rule edit_figures:
    input:
        unpack(figure_inputs),
    output:
        [report(f"{OUT}/figures/{{dataset}}/{m}.png", category="Edits", subcategory="{dataset}") for m in METHODS],
    params:
        args=figure_args,
    log:
        log_path("edit_figures/{dataset}"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "deltaspace edit-figures --evaluation-set {input.evaluation_set:q} {params.args} > {log:q} 2>&1"
