//! The multi-row `INSERT` on SQLite's C API, so that text is bound without a copy.
//!
//! rusqlite binds every text value with `SQLITE_TRANSIENT`, which makes SQLite allocate, copy
//! and later free each one: callgrind put that at about a third of the writer thread's
//! instructions on the bench file. Here text is bound with `SQLITE_STATIC`, pointing into the
//! row batch, and [`InsertStatement::run`] clears every binding before it returns, so no
//! pointer outlives the borrow it came from.
#![allow(unsafe_code)]

use rusqlite::{Connection, ffi};
use std::ffi::{CStr, c_int};
use std::marker::PhantomData;
use std::ptr::NonNull;

/// A prepared statement owned outside rusqlite's cache. It must be dropped before its
/// connection closes (see `State`, which declares its statements before its connection).
pub(crate) struct InsertStatement {
    statement: NonNull<ffi::sqlite3_stmt>,
    database: NonNull<ffi::sqlite3>,
}

// SAFETY: the statement is used only under the sink's mutex, together with the connection it
// belongs to, so one thread at a time uses both (SQLite's multi-thread mode allows that).
unsafe impl Send for InsertStatement {}

impl InsertStatement {
    /// Prepares `sql` on `connection` as a long-lived statement.
    pub(crate) fn prepare(connection: &Connection, sql: &str) -> rusqlite::Result<Self> {
        // SAFETY: the handle is only used while `connection` is open: the statement is
        // finalized on drop, before the connection (see the type's documentation).
        let database = unsafe { connection.handle() };
        let database = NonNull::new(database).ok_or(rusqlite::Error::InvalidQuery)?;
        let length = c_int::try_from(sql.len()).map_err(|_| rusqlite::Error::InvalidQuery)?;
        let mut statement = std::ptr::null_mut();
        // SAFETY: `sql` is valid for `length` bytes; SQLite writes the statement pointer.
        let code = unsafe {
            ffi::sqlite3_prepare_v3(
                database.as_ptr(),
                sql.as_ptr().cast(),
                length,
                ffi::SQLITE_PREPARE_PERSISTENT,
                &raw mut statement,
                std::ptr::null_mut(),
            )
        };
        if code != ffi::SQLITE_OK {
            return Err(failure(database, code));
        }
        let statement = NonNull::new(statement).ok_or(rusqlite::Error::InvalidQuery)?;
        Ok(InsertStatement {
            statement,
            database,
        })
    }

    /// Binds the parameters with `bind`, executes the statement and returns the rows it
    /// changed. Whatever happens, the statement is reset and its bindings cleared before
    /// returning, so the text it pointed at may be freed right after. A failed execution is
    /// reported through `fail`.
    pub(crate) fn run<'data, E>(
        &mut self,
        bind: impl FnOnce(&mut Bindings<'_, 'data>) -> Result<(), E>,
        fail: impl FnOnce(rusqlite::Error) -> E,
    ) -> Result<u64, E> {
        let statement = self.statement.as_ptr();
        let mut bindings = Bindings {
            statement: self,
            _data: PhantomData,
        };
        let bound = bind(&mut bindings);
        let result = bound.and_then(|()| {
            // SAFETY: a prepared statement; every parameter was bound to live data.
            let code = unsafe { ffi::sqlite3_step(statement) };
            if code == ffi::SQLITE_DONE {
                // SAFETY: the connection is open (see the type's documentation).
                let changes = unsafe { ffi::sqlite3_changes64(self.database.as_ptr()) };
                Ok(u64::try_from(changes).unwrap_or(0))
            } else {
                Err(fail(failure(self.database, code)))
            }
        });
        // SAFETY: a prepared statement. Reset repeats a step's error, which was taken above;
        // clearing the bindings drops every pointer into `'data`.
        unsafe {
            ffi::sqlite3_reset(statement);
            ffi::sqlite3_clear_bindings(statement);
        }
        result
    }
}

impl Drop for InsertStatement {
    fn drop(&mut self) {
        // SAFETY: finalized once, while its connection is still open.
        unsafe {
            ffi::sqlite3_finalize(self.statement.as_ptr());
        }
    }
}

/// The parameters of one execution; text bound here must live for `'data`, which outlasts
/// the execution (see [`InsertStatement::run`]).
pub(crate) struct Bindings<'s, 'data> {
    statement: &'s mut InsertStatement,
    _data: PhantomData<&'data [u8]>,
}

impl<'data> Bindings<'_, 'data> {
    /// Binds text without copying it. `value` must be UTF-8 (the batch was validated).
    pub(crate) fn text(&mut self, index: c_int, value: &'data [u8]) -> rusqlite::Result<()> {
        // SAFETY: `value` lives for `'data`, longer than the binding (cleared in `run`).
        unsafe { self.bind_text(index, value, ffi::SQLITE_STATIC()) }
    }

    /// Binds text that SQLite copies, for values made during binding.
    pub(crate) fn text_copied(&mut self, index: c_int, value: &str) -> rusqlite::Result<()> {
        // SAFETY: SQLite copies `value` before this call returns.
        unsafe { self.bind_text(index, value.as_bytes(), ffi::SQLITE_TRANSIENT()) }
    }

    /// # Safety
    ///
    /// With `SQLITE_STATIC`, `value` must outlive the binding.
    unsafe fn bind_text(
        &mut self,
        index: c_int,
        value: &[u8],
        destructor: ffi::sqlite3_destructor_type,
    ) -> rusqlite::Result<()> {
        // SAFETY: a prepared statement; the caller answers for the lifetime of `value`.
        let code = unsafe {
            ffi::sqlite3_bind_text64(
                self.statement.statement.as_ptr(),
                index,
                value.as_ptr().cast(),
                value.len() as u64,
                destructor,
                ffi::SQLITE_UTF8 as u8,
            )
        };
        self.check(code)
    }

    /// Binds an integer.
    pub(crate) fn integer(&mut self, index: c_int, value: i64) -> rusqlite::Result<()> {
        // SAFETY: a prepared statement.
        let code =
            unsafe { ffi::sqlite3_bind_int64(self.statement.statement.as_ptr(), index, value) };
        self.check(code)
    }

    /// Binds a real.
    pub(crate) fn real(&mut self, index: c_int, value: f64) -> rusqlite::Result<()> {
        // SAFETY: a prepared statement.
        let code =
            unsafe { ffi::sqlite3_bind_double(self.statement.statement.as_ptr(), index, value) };
        self.check(code)
    }

    /// Binds NULL.
    pub(crate) fn null(&mut self, index: c_int) -> rusqlite::Result<()> {
        // SAFETY: a prepared statement.
        let code = unsafe { ffi::sqlite3_bind_null(self.statement.statement.as_ptr(), index) };
        self.check(code)
    }

    fn check(&self, code: c_int) -> rusqlite::Result<()> {
        if code == ffi::SQLITE_OK {
            Ok(())
        } else {
            Err(failure(self.statement.database, code))
        }
    }
}

/// The connection's error for `code`, as rusqlite reports errors.
fn failure(database: NonNull<ffi::sqlite3>, code: c_int) -> rusqlite::Error {
    // SAFETY: an open connection; the message is copied before any other call on it.
    let message = unsafe {
        let text = ffi::sqlite3_errmsg(database.as_ptr());
        (!text.is_null()).then(|| CStr::from_ptr(text).to_string_lossy().into_owned())
    };
    rusqlite::Error::SqliteFailure(ffi::Error::new(code), message)
}
