module vltava.dev/compat

go 1.26.0
