#ifndef STEPWISE_CSQLITE_SHIM_H
#define STEPWISE_CSQLITE_SHIM_H

#include <sqlite3.h>

// SQLITE_TRANSIENT is a macro over a function-pointer cast that Swift cannot import;
// this constant gives Swift the same value. It tells sqlite3_bind_text/blob to copy the
// bytes before returning, so Swift's temporary buffers may be freed afterwards.
static const sqlite3_destructor_type stepwise_sqlite_transient = SQLITE_TRANSIENT;

#endif
