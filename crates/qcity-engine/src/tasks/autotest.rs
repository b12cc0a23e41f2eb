//! `qcity autotest`: is this machine fit to run work? Every probe once, every machine resource,
//! then every task marked `autotest`, in order. The report is an `autotest-finished` event, so
//! the latest one is in the store; it is the gate that later features (installer, self-update)
//! consult.
