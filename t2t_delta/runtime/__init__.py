"""What every tool shares about a run: its directory, checkpoints, lock and set-up.

    run_dir      the layout of a run directory and its run.json
    files        crash-safe writes: atomic replacement, append-only JSON lines
    checkpoints  listing, saving and restoring checkpoints (the trainer's repairing
                 restore; the read-only restore of the evaluator and the decoder)
    run_lock     one trainer per run directory
    gin_config   parsing gin files and bindings; gin_errors turns gin's errors into
                 one-line UserErrors
    run_setup    the problem and model of a run: for training, or rebuilt from its
                 run.json and config.gin (read-only)

run_dir, files and run_lock import no TensorFlow (t2t-delta-report reads records with
them; the trainer checks the lock before TensorFlow loads).
"""
