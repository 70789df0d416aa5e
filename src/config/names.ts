/**
 * Node names: what `name` in a node config, a server's key in a cluster config and a session's
 * scene may be. In a file of its own so that every schema can use it without import cycles.
 */
export const NODE_NAME_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;
export const NODE_NAME_RULE = "a name of 1 to 64 letters, digits, '_', '.' or '-'";
