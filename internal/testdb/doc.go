// Package testdb gives each test a fresh, empty database of its own on
// SQLite, PostgreSQL or MySQL/MariaDB, and drops it when the test ends.
//
// # Databases
//
// SQLite (modernc.org/sqlite) is always available: a file in the test's
// temporary directory. A PostgreSQL test runs in a new schema (the returned
// DSN sets search_path to it); a MySQL test in a new database. Both are
// dropped at cleanup. [New] gives one database, [Each] runs a subtest per
// dialect.
//
// # Environment
//
// PostgreSQL and MySQL are used when the environment holds a DSN for them:
//
//	ROLLSAFE_TEST_POSTGRES   e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
//	ROLLSAFE_TEST_MYSQL      e.g. root@tcp(127.0.0.1:3306)/?parseTime=true
//
// Without a DSN, or when the server does not answer, the test is skipped,
// unless ROLLSAFE_TEST_REQUIRE_DBS=1, under which it fails instead, so that
// CI can never pass by skipping. Passwords in DSNs never reach the test log.
package testdb
