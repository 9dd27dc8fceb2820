// Protocol numbers the clients need at run time, in a file with no imports, so the console and
// the widget can import them without pulling the TypeBox schemas of events.ts into their bundles.

/** How long after sending a message its sender may still recall or edit it. */
export const MESSAGE_EDIT_WINDOW_MS = 2 * 60 * 1000;
