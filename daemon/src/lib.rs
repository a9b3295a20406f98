//! farod (under construction).
