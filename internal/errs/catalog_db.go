package errs

import "net/http"

// The codes of c.DB(), the per-actor SQL database.

// DBTooLarge is actor/db_too_large: a statement would grow the actor's SQL
// database past its size limit.
func DBTooLarge() *Error {
	return New(http.StatusRequestEntityTooLarge, "actor", "db_too_large", "The actor's SQL database would exceed its size limit; the statement was rolled back.")
}

// DBCommitTooLarge is actor/db_commit_too_large: a task changed more SQL
// pages than one commit may hold; its changes were rolled back.
func DBCommitTooLarge() *Error {
	return New(http.StatusRequestEntityTooLarge, "actor", "db_commit_too_large", "The action changed more SQL pages than one commit may hold; its changes were rolled back.")
}

// DBTransactionOpen is actor/db_transaction_open: a task left an SQL
// transaction of its own open; it was rolled back.
func DBTransactionOpen() *Error {
	return New(http.StatusBadRequest, "actor", "db_transaction_open", "The action left an SQL transaction open; its changes were rolled back.")
}

// DBMigrationFailed is actor/db_migration_failed: a migration of the
// actor's SQL database failed at activation (details in the runner's log).
func DBMigrationFailed() *Error {
	return New(http.StatusInternalServerError, "actor", "db_migration_failed", "A migration of the actor's SQL database failed.")
}
