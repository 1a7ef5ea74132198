import { describe, expect, it } from 'vitest';
import { chipsOf, questionFrom } from './question';

// An interpretation as the server returned it for
// "denied attempts to assume a role by bert-jan from 192.168.10.20 between 2023-07-10 and 2023-07-11".
const interpretation = {
  actions: ['sts.amazonaws.com:AssumeRole'],
  actors: ['bert-jan'],
  ips: ['192.168.10.20'],
  outcome: 'denied',
  resource_types: [],
  since: '2023-07-10T00:00:00.000000Z',
  until: '2023-07-12T00:00:00.000000Z',
  text: 'attempts',
};

describe('search chips', () => {
  it('lists each understood filter once', () => {
    expect(chipsOf(interpretation).map((chip) => chip.key)).toEqual([
      'since',
      'until',
      'outcome',
      'actors:bert-jan',
      'actions:sts.amazonaws.com:AssumeRole',
      'ips:192.168.10.20',
      'text',
    ]);
  });

  it('re-asks without a removed chip', () => {
    const chips = chipsOf(interpretation).filter((chip) => chip.key !== 'outcome');
    expect(questionFrom(chips)).toBe(
      'attempts since 2023-07-10 before 2023-07-12 by bert-jan sts.amazonaws.com:AssumeRole from 192.168.10.20',
    );
  });
});
