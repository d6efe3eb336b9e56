# Methods that learn something per prompt (StyleMC's direction, ...; methods.base.MethodKind.train): one job
# per method, prompt and training replicate, so the prompts train in parallel and each has its benchmark file.


rule train_prompt_edit:
    input:
        unpack(method_model_inputs),
    output:
        prompt_training_path("{method}", "{prompt}", "{replicate}"),
    params:
        args=prompt_training_args,
    log:
        log_path("train_prompt_edit/{method}{replicate}/{prompt}"),
    benchmark:
        bench_path("train_prompt_edit/{method}{replicate}/{prompt}")
    threads: 1
    resources:
        mem_mb=4000,
        runtime=120,
        gpu=0,  # GPU work; a site with GPUs raises it in its profile (workflow/profiles/slurm)
    shell:
        "deltaspace train-prompt-edit {params.args} --out {output:q} --threads {threads} > {log:q} 2>&1"
