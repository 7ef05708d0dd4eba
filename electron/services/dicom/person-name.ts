/**
 * DICOM Person Name (PN): up to three component groups (alphabetic=ideographic=phonetic),
 * each Family^Given^Middle^Prefix^Suffix.
 */
export interface PersonName {
  /** "Family, Given Middle" from the first non-empty group, for display. */
  display: string;
  /** All groups, readable, for search ("Yamada, Tarou 山田, 太郎"). */
  searchText: string;
}

export function formatComponentGroup(group: string): string {
  if (group.indexOf('^') < 0) return group.trim();
  const [family = '', given = '', middle = '', prefix = '', suffix = ''] = group.split('^').map((c) => c.trim());
  const givenPart = [prefix, given, middle].filter(Boolean).join(' ');
  let name = family && givenPart ? `${family}, ${givenPart}` : family || givenPart;
  if (suffix) name = name ? `${name}, ${suffix}` : suffix;
  return name;
}

export function parsePersonName(value: string): PersonName {
  // One name, one component group: what nearly every file holds, without the arrays below.
  if (value.indexOf('\\') < 0 && value.indexOf('=') < 0) {
    const name = formatComponentGroup(value);
    return { display: name, searchText: name };
  }
  // A multi-valued PN: show each name, separated by "; ".
  const names = value.split('\\').map((one) => {
    const groups = one.split('=').map(formatComponentGroup);
    const display = groups.find((g) => g.length > 0) ?? '';
    return { display, all: groups.filter(Boolean).join(' ') };
  });
  return {
    display: names.map((n) => n.display).filter(Boolean).join('; '),
    searchText: names.map((n) => n.all).filter(Boolean).join(' '),
  };
}
