module github.com/meshrun/mesh/store/postgres

go 1.26.8

require (
	github.com/jackc/pgx/v5 v5.12.0
	github.com/meshrun/mesh v0.0.0
)

require (
	github.com/jackc/pgpassfile v1.0.0 // indirect
	github.com/jackc/pgservicefile v0.0.0-20240606120523-5a60cdf6a761 // indirect
	github.com/jackc/puddle/v2 v2.2.3 // indirect
	golang.org/x/sync v0.23.0 // indirect
	golang.org/x/text v0.42.0 // indirect
)

// The store is built and tested with the mesh of this repository.
replace github.com/meshrun/mesh => ../../
