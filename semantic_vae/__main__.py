from semantic_vae.cli import main

if __name__ == "__main__":
    main()
