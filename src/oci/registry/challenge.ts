// WWW-Authenticate parsing (RFC 9110 §11.6.1): one or more challenges, each a
// scheme followed by comma-separated name=value parameters whose values may be
// quoted strings containing commas, spaces and backslash escapes.

export interface Challenge {
  /** Lower-cased, e.g. `bearer` or `basic`. */
  scheme: string;
  /** Parameter names lower-cased, values unquoted. */
  params: Record<string, string>;
}

const TOKEN_CHAR = /[!#$%&'*+.^_`|~0-9A-Za-z-]/;

export function parseChallenges(header: string): Challenge[] {
  const challenges: Challenge[] = [];
  let pos = 0;

  const skip = (chars: string): void => {
    while (pos < header.length && chars.includes(header[pos]!)) pos++;
  };
  const token = (): string => {
    const start = pos;
    while (pos < header.length && TOKEN_CHAR.test(header[pos]!)) pos++;
    return header.slice(start, pos);
  };
  const quoted = (): string => {
    let value = '';
    pos++; // opening quote
    while (pos < header.length && header[pos] !== '"') {
      if (header[pos] === '\\' && pos + 1 < header.length) pos++;
      value += header[pos];
      pos++;
    }
    pos++; // closing quote
    return value;
  };
  // Some servers send unquoted values with characters a token may not hold (URLs); take them up to the next comma.
  const bare = (): string => {
    const start = pos;
    while (pos < header.length && header[pos] !== ',' && header[pos] !== ' ') pos++;
    return header.slice(start, pos);
  };

  while (pos < header.length) {
    skip(' \t,');
    const scheme = token();
    if (scheme === '') break;
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    challenges.push(challenge);
    for (;;) {
      skip(' \t');
      const start = pos;
      const name = token();
      skip(' \t');
      if (name === '' || header[pos] !== '=') {
        pos = start; // not a parameter: the next challenge's scheme (or the end)
        break;
      }
      pos++;
      skip(' \t');
      challenge.params[name.toLowerCase()] = header[pos] === '"' ? quoted() : bare();
      skip(' \t');
      if (header[pos] !== ',') break;
      pos++;
    }
  }
  return challenges;
}
