// Reading knowledge-base files: CSV quoting and delimiters, encodings, headers in either language,
// and cells that would run as formulas in a spreadsheet.
import iconv from 'iconv-lite';
import { describe, expect, it } from 'vitest';
import {
  decodeText,
  parseCsv,
  parseFile,
  splitSimilar,
  writeFile,
} from '../../src/modules/knowledge/knowledge-files.ts';
import { questionKey } from '../../src/modules/knowledge/knowledge.rules.ts';

describe('knowledge files', () => {
  it('parses RFC 4180 CSV: quoted delimiters, doubled quotes, line breaks in cells, CRLF, blank lines', () => {
    const text = 'a,b,c\r\n"x, y","say ""hi""","line 1\nline 2"\r\n\r\nlast,,\n';
    expect(parseCsv(text, ',')).toEqual([
      { line: 1, cells: ['a', 'b', 'c'] },
      { line: 2, cells: ['x, y', 'say "hi"', 'line 1\nline 2'] },
      { line: 5, cells: ['last', '', ''] },
    ]);
  });

  it('detects the delimiter and maps Chinese or English headers in any order', async () => {
    const semi = await parseFile('csv', Buffer.from('答案;标准问题;分类\n在设置里。;怎么改密码;账户\n'));
    expect(semi.problems).toEqual([]);
    expect(semi.rows).toEqual([
      {
        row: 2,
        question: '怎么改密码',
        similar: [],
        answer: '在设置里。',
        category: '账户',
        externalId: null,
      },
    ]);
    const tab = await parseFile('csv', Buffer.from('Question\tAnswer\tID\nq\ta\tk-1\n'));
    expect(tab.rows[0]).toMatchObject({ question: 'q', answer: 'a', externalId: 'k-1' });
  });

  it('decodes UTF-8 with and without BOM, UTF-16 with BOM and GBK, and refuses anything else', () => {
    expect(decodeText(Buffer.from('\ufeff你好', 'utf8'))).toEqual({ text: '你好', encoding: 'utf-8' });
    expect(decodeText(Buffer.from('你好', 'utf8'))).toEqual({ text: '你好', encoding: 'utf-8' });
    expect(decodeText(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from('你好', 'utf16le')]))).toEqual({
      text: '你好',
      encoding: 'utf-16le',
    });
    expect(decodeText(iconv.encode('退货地址｜快递', 'gbk'))).toEqual({
      text: '退货地址｜快递',
      encoding: 'gbk',
    });
    expect(decodeText(Buffer.from([0x80, 0xff, 0xff, 0x80]))).toBeNull();
  });

  it('splits similar questions on line breaks, "|" and the full-width "｜", dropping empty ones', () => {
    expect(splitSimilar('a|b｜c\r\nd\n\n|')).toEqual(['a', 'b', 'c', 'd']);
  });

  it('folds standard questions for the duplicate check', () => {
    expect(questionKey('ＨＯＷ  do I reset？')).toBe(questionKey('how do i reset'));
    expect(questionKey('退货地址是什么？')).toBe(questionKey('退货地址是什么'));
    expect(questionKey('退货地址')).not.toBe(questionKey('退货时间'));
  });

  it('writes formula-like text inert in CSV and reads it back as written', async () => {
    const csv = await writeFile('csv', [
      { externalId: null, question: '=SUM(A1)', similar: ['+1', '@x'], answer: '-2', categoryPath: '' },
    ]);
    const text = csv.toString('utf8');
    expect(text).toContain("'=SUM(A1)");
    expect(text).toContain("'-2");
    const back = await parseFile('csv', csv);
    expect(back.rows[0]).toMatchObject({ question: '=SUM(A1)', answer: '-2' });
  });
});
