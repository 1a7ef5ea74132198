import type { SearchInterpretation } from '../api/types';

export type ChipKind = 'since' | 'until' | 'outcome' | 'actors' | 'actions' | 'ips' | 'resource_types' | 'text';

export interface Chip {
  key: string;
  kind: ChipKind;
  label: string;
  value: string;
}

const OUTCOME_WORDS: Record<string, string> = { denied: 'denied', failure: 'failed', success: 'succeeded', unknown: 'unknown' };

function day(iso: string): string {
  return iso.slice(0, 10);
}

/** The filters the server understood, one removable chip each. */
export function chipsOf(interpretation: SearchInterpretation): Chip[] {
  const chips: Chip[] = [];
  const list = (kind: ChipKind, label: string) => {
    const values = interpretation[kind];
    if (Array.isArray(values)) {
      for (const value of values as string[]) chips.push({ key: `${kind}:${value}`, kind, label, value });
    }
  };
  if (interpretation.since) chips.push({ key: 'since', kind: 'since', label: 'since', value: interpretation.since });
  if (interpretation.until) chips.push({ key: 'until', kind: 'until', label: 'before', value: interpretation.until });
  if (interpretation.outcome) chips.push({ key: 'outcome', kind: 'outcome', label: 'outcome', value: interpretation.outcome });
  list('actors', 'actor');
  list('actions', 'action');
  list('ips', 'ip');
  list('resource_types', 'resource');
  if (interpretation.text) chips.push({ key: 'text', kind: 'text', label: 'about', value: interpretation.text });
  return chips;
}

/**
 * Writes a question that the server's parser reads back as the given chips: the
 * search API takes only text, so removing a chip re-asks without that part.
 */
export function questionFrom(chips: Chip[]): string {
  const parts: string[] = [];
  const text = chips.find((chip) => chip.kind === 'text');
  if (text) parts.push(text.value);
  for (const chip of chips) {
    switch (chip.kind) {
      case 'actions':
      case 'resource_types':
        parts.push(chip.value);
        break;
      case 'outcome':
        parts.push(OUTCOME_WORDS[chip.value] ?? chip.value);
        break;
      case 'actors':
        parts.push(`by ${chip.value}`);
        break;
      case 'ips':
        parts.push(`from ${chip.value}`);
        break;
      case 'since':
        parts.push(`since ${day(chip.value)}`);
        break;
      case 'until':
        parts.push(`before ${day(chip.value)}`);
        break;
      default:
        break;
    }
  }
  return parts.join(' ').trim();
}

export function chipText(chip: Chip): string {
  if (chip.kind === 'since' || chip.kind === 'until') return `${chip.label} ${day(chip.value)}`;
  return `${chip.label}: ${chip.value}`;
}
