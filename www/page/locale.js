// A locale that Intl accepts, for the browser's own: a browser started without a locale may report
// one Intl rejects (WebKitGTK with LANG unset reports "C"), and formatting with it throws.

/** Whether `new Intl.NumberFormat(tag)` accepts `tag`. */
export function acceptedLocale(tag) {
  if (typeof tag !== 'string' || tag === '') return false;
  try {
    new Intl.NumberFormat(tag);
    return true;
  } catch {
    return false;
  }
}

/**
 * `language` (navigator.language) when Intl accepts it; else the first of `languages`
 * (navigator.languages) that it accepts; else 'en-US'.
 */
export function usableLocale(language, languages = []) {
  if (acceptedLocale(language)) return language;
  return [...(languages || [])].find(acceptedLocale) ?? 'en-US';
}
