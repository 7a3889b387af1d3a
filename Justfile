# Everyday recipes. `just` is not in Debian 12: `npx rust-just <recipe>` runs these too.

# Serve from a config file (default: $POSTERN_CONFIG)
serve config=env_var_or_default("POSTERN_CONFIG", "postern.toml"):
    npx postern serve --config {{config}}

# Loopback server with a ready account (postern@localhost / postern)
localserve *args:
    npx postern localserve {{args}}

# Type-check and run every test
test:
    npm test

# Run the benchmarks (add --quick for a short run, --only NAME for one)
bench *args:
    npm run bench -- {{args}}

# Type-check only
check:
    npx tsc --noEmit -p .
