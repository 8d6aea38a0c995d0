"""`python -m semantic_vae.bench`: see semantic_vae/bench/runner.py."""

from semantic_vae.bench.runner import main

if __name__ == "__main__":
    main()
