"""`python -m semantic_vae.bench`: see semantic_vae/bench/report.py."""

from semantic_vae.bench.report import main

if __name__ == "__main__":
    main()
