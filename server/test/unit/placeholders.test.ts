import { describe, expect, it } from 'vitest';
import {
  fillPlaceholders,
  placeholdersIn,
  unknownPlaceholders,
} from '../../src/modules/canned-replies/placeholders.ts';

describe('canned reply placeholders', () => {
  it('fills contact and agent names', () => {
    expect(
      fillPlaceholders('您好 {{contact.name}}，我是 {{agent.name}}。', {
        'contact.name': '王芳',
        'agent.name': '小李',
      }),
    ).toBe('您好 王芳，我是 小李。');
  });

  it('tolerates spaces inside the braces and fills every occurrence', () => {
    expect(fillPlaceholders('{{ agent.name }} / {{agent.name}}', { 'agent.name': 'Ann' })).toBe('Ann / Ann');
  });

  it('uses the fallback after | when the value is missing or blank, else nothing', () => {
    expect(fillPlaceholders('Hi {{contact.name|there}}!', {})).toBe('Hi there!');
    expect(fillPlaceholders('Hi {{contact.name | there }}!', { 'contact.name': '  ' })).toBe('Hi there!');
    expect(fillPlaceholders('Hi {{contact.name}}!', { 'contact.name': null })).toBe('Hi !');
    expect(fillPlaceholders('Hi {{contact.name|there}}!', { 'contact.name': 'Bo' })).toBe('Hi Bo!');
  });

  it('leaves unknown placeholders as written so a typo is visible', () => {
    expect(fillPlaceholders('Hi {{contact.nmae}}', { 'contact.name': 'Bo' })).toBe('Hi {{contact.nmae}}');
    expect(unknownPlaceholders('Hi {{contact.nmae}} {{agent.name}} {{ order.id }}')).toEqual([
      'contact.nmae',
      'order.id',
    ]);
  });

  it('inserts values literally: no recursive filling and no regex replacement patterns', () => {
    expect(fillPlaceholders('{{contact.name}}', { 'contact.name': '{{agent.name}} $& $1' })).toBe(
      '{{agent.name}} $& $1',
    );
  });

  it('ignores text that only looks like a placeholder', () => {
    expect(placeholdersIn('{{}} {{ 1abc }} {contact.name} {{contact.name}}')).toEqual(['contact.name']);
  });
});
