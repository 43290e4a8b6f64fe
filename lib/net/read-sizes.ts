// The sizes of a connection's `own` read buffer, on either path: it starts small, so short-lived
// connections stay cheap, and moves to a large one once a read fills it (bulk transfers).
export const FIRST_READ_SIZE = 4096;
export const BULK_READ_SIZE = 64 * 1024;
