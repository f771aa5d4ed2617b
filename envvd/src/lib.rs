//! The envv agent core: identities, team keys and the `.env.enc` format, and
//! the daemon that holds unlocked keys behind a Unix socket.
