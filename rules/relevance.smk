# R_s, the relevance matrix of CLIP dimensions to S channels, and the statistics of S over the fakes.


rule relevance:
    input:
        unpack(relevance_inputs),
    output:
        rs=f"{OUT}/relevance/rs.npy",
        stats=f"{OUT}/relevance/s_stats.npz",
        info=f"{OUT}/relevance/rs.json",
    params:
        args=relevance_args,
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
