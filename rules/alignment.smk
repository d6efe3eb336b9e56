# The DeltaSpace claim (paper section 3.1, Figure 1): CLIP image and caption embeddings of held-out images
# align better as differences of random pairs than as they are. Mini world only: the captions are made from
# the images' true attributes (alignment_args refuses the real world, which has none).


rule deltaspace_alignment:
    input:
        unpack(alignment_inputs),
    output:
        report=report(f"{OUT}/reports/deltaspace.json", category="DeltaSpace"),
        figure=report(f"{OUT}/figures/deltaspace-tsne.png", category="DeltaSpace",
                      caption="../workflow/report/deltaspace.rst"),
    params:
        args=alignment_args,
    log:
        log_path("deltaspace_alignment"),
    benchmark:
        bench_path("deltaspace_alignment")
    threads: config["threads"]
    resources:
        mem_mb=3000,
        runtime=10,
    shell:
        "deltaspace deltaspace-alignment {params.args} --out {output.report:q} --figure {output.figure:q} "
        "--threads {threads} > {log:q} 2>&1"
