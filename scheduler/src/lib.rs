//! `veritrail-scheduler`: *when* Veritrail's background jobs run (cron expressions, leases so only
//! one replica runs a job, run history). *What* a job does stays in plain async functions that
//! the API, the CLI and tests call too.
