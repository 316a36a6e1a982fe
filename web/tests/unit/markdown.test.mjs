// The message Markdown subset (src/ui/markdown.ts): what each construct parses to, what stays
// literal, which links are refused, and that hostile input is parsed in bounded time. Compiled
// from TypeScript by tsconfig.unit.json first.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const web = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
let parseMarkdown, safeHref;

before(async () => {
  execFileSync(join(web, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.unit.json'], { cwd: web, stdio: 'inherit' });
  ({ parseMarkdown, safeHref } = await import(join(web, '.unit/ui/markdown.js')));
});

/** The tree as compact markup, for readable expectations (not HTML: nothing is escaped). */
function show(nodes) {
  return nodes
    .map((n) => {
      switch (n.type) {
        case 'text':
          return n.text;
        case 'code':
          return `<code>${n.text}</code>`;
        case 'codeblock':
          return `<pre${n.lang ? ` ${n.lang}` : ''}>${n.text}</pre>`;
        case 'mention':
          return `<@${n.name}>`;
        case 'link':
          return `<a ${n.href}>${show(n.children)}</a>`;
        default:
          return `<${n.type}>${show(n.children)}</${n.type}>`;
      }
    })
    .join('');
}
const md = (text) => show(parseMarkdown(text));
const hrefs = (nodes) => nodes.flatMap((n) => (n.type === 'link' ? [n.href] : n.children ? hrefs(n.children) : []));

/** Every text the tree holds, in order: what a reader sees, markers aside. */
function plain(nodes) {
  return nodes.map((n) => (n.type === 'mention' ? `@${n.name}` : 'text' in n ? n.text : plain(n.children))).join('');
}

describe('constructs', () => {
  test('plain text is one text node, Unicode and emoji untouched', () => {
    assert.deepEqual(parseMarkdown('héllo wörld 🙂👍🏽 مرحبا 日本語'), [{ type: 'text', text: 'héllo wörld 🙂👍🏽 مرحبا 日本語' }]);
    assert.deepEqual(parseMarkdown(''), []);
  });

  test('bold, italic and strike', () => {
    assert.deepEqual(parseMarkdown('**bold**'), [{ type: 'strong', children: [{ type: 'text', text: 'bold' }] }]);
    assert.equal(md('a **b** c'), 'a <strong>b</strong> c');
    assert.equal(md('a __b__ c'), 'a <strong>b</strong> c');
    assert.equal(md('a *i* c'), 'a <em>i</em> c');
    assert.equal(md('a _i_ c'), 'a <em>i</em> c');
    assert.equal(md('a ~~gone~~ c'), 'a <del>gone</del> c');
    assert.equal(md('***both***'), '<em><strong>both</strong></em>');
    assert.equal(md('**two words**, then (*in parens*)!'), '<strong>two words</strong>, then (<em>in parens</em>)!');
    assert.equal(md('*🙂*'), '<em>🙂</em>');
    assert.equal(md('_ünï_ and *çödé*'), '<em>ünï</em> and <em>çödé</em>');
    assert.equal(md('*over\ntwo lines*'), '<em>over\ntwo lines</em>');
  });

  test('inline code is verbatim', () => {
    assert.deepEqual(parseMarkdown('`x`'), [{ type: 'code', text: 'x' }]);
    assert.equal(md('run `npm ci` first'), 'run <code>npm ci</code> first');
    assert.equal(md('`*not em* _nor_ **this** [l](https://x.com) https://x.com @ana \\*`'), '<code>*not em* _nor_ **this** [l](https://x.com) https://x.com @ana \\*</code>');
    assert.equal(md('``a ` b``'), '<code>a ` b</code>');
    assert.equal(md('`` `tick` ``'), '<code>`tick`</code>', 'one space each side is padding');
    assert.equal(md('*a `*` b*'), '<em>a <code>*</code> b</em>', 'code binds tighter than emphasis');
  });

  test('fenced code blocks, with and without a language', () => {
    assert.deepEqual(parseMarkdown('```\nx\n```'), [{ type: 'codeblock', text: 'x' }]);
    assert.deepEqual(parseMarkdown('```js\nlet a = 1;\n```'), [{ type: 'codeblock', text: 'let a = 1;', lang: 'js' }]);
    // The line breaks around a block are the block's own; the text around it keeps the rest.
    assert.equal(md('before\n```py\nx = *y*  # __init__ @ana https://x.com\n\n  indented\n```\nafter'), 'before<pre py>x = *y*  # __init__ @ana https://x.com\n\n  indented</pre>after');
    assert.equal(md('a\n\n```\nb\n```\n\nc'), 'a\n<pre>b</pre>\nc');
    assert.equal(md('```one line```'), '<pre>one line</pre>');
    assert.equal(md('```\nx\n``` and more'), '<pre>x</pre> and more');
    assert.equal(md('````\nhas ``` inside\n````'), '<pre>has ``` inside</pre>', 'a longer fence holds a shorter one');
    assert.equal(md('```\n<b>&amp;</b>\n```'), '<pre><b>&amp;</b></pre>', 'verbatim, not HTML');
    assert.equal(md('```c++\nx\n```\n```\ny\n```'), '<pre c++>x</pre><pre>y</pre>');
    // Mid-line, three backticks are a code span, not a block.
    assert.equal(md('say ```hi``` now'), 'say <code>hi</code> now');
  });

  test('links: bare http(s) URLs and [text](url)', () => {
    assert.deepEqual(parseMarkdown('https://example.com'), [{ type: 'link', href: 'https://example.com', children: [{ type: 'text', text: 'https://example.com' }] }]);
    assert.equal(md('see http://x.com/a?b=c&d#e now'), 'see <a http://x.com/a?b=c&d#e>http://x.com/a?b=c&d#e</a> now');
    assert.equal(md('[the docs](https://x.com/docs)'), '<a https://x.com/docs>the docs</a>');
    assert.equal(md('[write](mailto:ana@example.com)'), '<a mailto:ana@example.com>write</a>');
    assert.equal(md('[w](https://en.wikipedia.org/wiki/Foo_(bar)) x'), '<a https://en.wikipedia.org/wiki/Foo_(bar)>w</a> x');
    assert.equal(md('[](https://x.com)'), '<a https://x.com>https://x.com</a>', 'empty text shows the address');
    assert.equal(md('HTTPS://X.COM/A'), '<a HTTPS://X.COM/A>HTTPS://X.COM/A</a>');
  });

  test('a bare URL leaves out trailing punctuation and unbalanced parentheses', () => {
    assert.equal(md('go to https://x.com.'), 'go to <a https://x.com>https://x.com</a>.');
    assert.equal(md('https://x.com, https://y.com; https://z.com: https://w.com! https://v.com?'), '<a https://x.com>https://x.com</a>, <a https://y.com>https://y.com</a>; <a https://z.com>https://z.com</a>: <a https://w.com>https://w.com</a>! <a https://v.com>https://v.com</a>?');
    assert.equal(md('(see https://x.com)'), '(see <a https://x.com>https://x.com</a>)');
    assert.equal(md('(https://en.wikipedia.org/wiki/Foo_(bar)).'), '(<a https://en.wikipedia.org/wiki/Foo_(bar)>https://en.wikipedia.org/wiki/Foo_(bar)</a>).');
    assert.equal(md('"https://x.com/q"'), '"<a https://x.com/q>https://x.com/q</a>"');
    assert.equal(md('<https://x.com>'), '<<a https://x.com>https://x.com</a>>');
    assert.equal(md('[https://x.com]'), '[<a https://x.com>https://x.com</a>]');
    assert.equal(md('https://x.com/a_b_c and https://x.com/@ana'), '<a https://x.com/a_b_c>https://x.com/a_b_c</a> and <a https://x.com/@ana>https://x.com/@ana</a>');
    assert.equal(md('https:// and http://.'), 'https:// and http://.', 'a scheme alone is no link');
  });

  test('mentions are tokens, with the name as written', () => {
    assert.deepEqual(parseMarkdown('hi @Ana!'), [{ type: 'text', text: 'hi ' }, { type: 'mention', name: 'Ana' }, { type: 'text', text: '!' }]);
    assert.equal(md('@snake_case_name and @a.b-c'), '<@snake_case_name> and <@a.b-c>', 'underscores in a name are not emphasis');
    assert.equal(md('**@ana** [ping @bo](https://x.com)'), '<strong><@ana></strong> <a https://x.com>ping <@bo></a>');
    assert.equal(md('an @ alone'), 'an @ alone');
  });
});

describe('nesting', () => {
  test('formatting inside formatting', () => {
    assert.equal(md('*italic **bold** more*'), '<em>italic <strong>bold</strong> more</em>');
    assert.equal(md('**bold _italic_ more**'), '<strong>bold <em>italic</em> more</strong>');
    assert.equal(md('**a *b***'), '<strong>a <em>b</em></strong>');
    assert.equal(md('*a **b***'), '<em>a <strong>b</strong></em>');
    assert.equal(md('~~**gone** too~~'), '<del><strong>gone</strong> too</del>');
    assert.equal(md('**`code` in bold**'), '<strong><code>code</code> in bold</strong>');
  });

  test('link text with formatting, formatting around links', () => {
    assert.equal(md('[**bold** link](https://x.com)'), '<a https://x.com><strong>bold</strong> link</a>');
    assert.equal(md('[*it* and `code`](https://x.com)'), '<a https://x.com><em>it</em> and <code>code</code></a>');
    assert.equal(md('**[a](https://x.com)**'), '<strong><a https://x.com>a</a></strong>');
    assert.equal(md('*see https://x.com*'), '<em>see <a https://x.com>https://x.com</a></em>');
    assert.equal(md('**https://x.com/a*b**'), '<strong><a https://x.com/a*b>https://x.com/a*b</a></strong>');
  });

  test('no link inside a link', () => {
    assert.equal(md('[https://a.com](https://b.com)'), '<a https://b.com>https://a.com</a>');
    assert.equal(md('[a [b](https://u.com) c](https://v.com)'), '[a <a https://u.com>b</a> c](<a https://v.com>https://v.com</a>)');
  });

  test('crossing markers: the first to close wins, the rest is literal', () => {
    assert.equal(md('*a _b* c_'), '<em>a _b</em> c_');
    assert.equal(md('*a [b* c](https://x.com)'), '*a <a https://x.com>b* c</a>', 'emphasis does not close across a link');
  });
});

describe('literal text', () => {
  test('markers between letters or next to spaces do nothing', () => {
    for (const text of ['2*3*4', 'snake_case_name', 'a * b', 'a ** b ** c', '5 * 3 = 15 and 6 * 2', 'un**believ**able', 'x_1 + y_2', '~5 min', 'a ~ b ~ c', 'a~~b~~c']) {
      assert.equal(md(text), text, text);
    }
  });

  test('unclosed or mismatched markers stay as typed', () => {
    for (const text of ['**unclosed', 'unclosed**', '*a', '_a', '~~a', '`a', '``a`', '[a', 'a]', '[a](', '[a](https://x.com', '[a] (https://x.com', '```\nno end', '****a****', '**a*', '~~~a~~~']) {
      assert.equal(plain(parseMarkdown(text)), text, text);
    }
    assert.equal(md('**unclosed *but this* is'), '**unclosed <em>but this</em> is');
    assert.equal(md('```\nno end'), '```\nno end');
    assert.equal(md('[a](https://x.com'), '[a](<a https://x.com>https://x.com</a>');
  });

  test('text that looks like HTML stays text', () => {
    assert.deepEqual(parseMarkdown('<b>not bold</b> <script>x()</script> &amp;'), [{ type: 'text', text: '<b>not bold</b> <script>x()</script> &amp;' }]);
  });
});

describe('unsafe links', () => {
  test('only http, https and mailto link', () => {
    for (const href of ['javascript:alert(1)', 'JavaScript:alert(1)', 'data:text/html,<b>x</b>', 'vbscript:x', 'file:///etc/passwd', '//evil.com', '/relative', 'https:evil', 'mailto:', 'http://']) {
      assert.equal(safeHref(href), false, href);
      const text = `[click](${href})`;
      const nodes = parseMarkdown(text);
      assert.equal(plain(nodes), text, `${href} is shown as typed`);
      assert.ok(!JSON.stringify(nodes).includes('"link"'), `${href} is not a link`);
    }
    for (const href of ['https://x.com', 'http://x.com/a', 'HTTPS://X.COM', 'mailto:a@b.c']) assert.equal(safeHref(href), true, href);
  });

  test('an unsafe scheme in disguise is not a link either', () => {
    for (const text of ['[a](java\\script:x)', '[a]( javascript:x)', '[a](\u0001javascript:x)', 'javascript:alert(1)', '[a](javascript:x)', '[a](javascript://%0aalert(1))']) {
      assert.ok(!JSON.stringify(parseMarkdown(text)).includes('"link"'), text);
    }
    // Around an unsafe link, the safe addresses still link and are the only hrefs.
    assert.deepEqual(hrefs(parseMarkdown('[a](javascript:x "https://x.com") [b](https://y.com)')), ['https://x.com', 'https://y.com']);
    // A quote ends a link: no href carries one (not that Preact's attributes could be broken out of).
    assert.equal(md('[a](https://x.com"onclick="x)'), '[a](<a https://x.com>https://x.com</a>"onclick="x)');
  });
});

describe('escapes', () => {
  test('a backslash makes the next marker literal', () => {
    assert.equal(md('\\*not italic\\*'), '*not italic*');
    assert.equal(md('\\*\\*not bold\\*\\*'), '**not bold**');
    assert.equal(md('\\_a\\_ \\~~b~~ \\`c\\` \\[d](https://x.com) \\@ana'), '_a_ ~~b~~ `c` [d](<a https://x.com>https://x.com</a>) @ana');
    assert.equal(md('a \\\\ b'), 'a \\ b');
    assert.equal(md('\\**a*'), '*<em>a</em>');
  });

  test('other backslashes stay', () => {
    assert.equal(md('C:\\Users\\ana \\n'), 'C:\\Users\\ana \\n');
    assert.equal(md('ends with \\'), 'ends with \\');
    assert.equal(md('`\\*`'), '<code>\\*</code>', 'no escapes in code');
  });
});

describe('bounded work', () => {
  test('long adversarial messages parse (a hang fails by the runner timeout)', () => {
    const hostile = [
      '*_*_'.repeat(1000),
      '[[[[('.repeat(800),
      '*_*_[[[[('.repeat(450),
      '[a]('.repeat(1000),
      '[a](https://x.com/'.repeat(220),
      '(((('.repeat(1000) + '[a](' + 'x('.repeat(1000),
      Array.from({ length: 88 }, (_, i) => '`'.repeat(i + 1) + 'x').join(''),
      '\n```'.repeat(1000),
      '```' + '`x'.repeat(1998),
      'https://'.repeat(500),
      'https://x.com/' + '('.repeat(3980),
      '**a'.repeat(1333),
      '*_'.repeat(1000) + 'x' + '_*'.repeat(1000),
      '~~a'.repeat(1333),
      '@'.repeat(4000),
      '\\'.repeat(4000),
      '_a_ '.repeat(1000),
      '🙂*'.repeat(1333),
    ];
    for (let round = 0; round < 5; round++) {
      for (const text of hostile) {
        assert.ok(text.length >= 3900, `${text.slice(0, 8)} is long`);
        const nodes = parseMarkdown(text);
        assert.ok(plain(nodes).length <= text.length);
      }
    }
  });

  test('deep nesting is capped: past the limit markers are text', () => {
    const text = '*_'.repeat(50) + 'x' + '_*'.repeat(50);
    let depth = 0;
    for (let nodes = parseMarkdown(text); nodes.some((n) => n.children); depth++) nodes = nodes.find((n) => n.children).children;
    assert.ok(depth > 0 && depth <= 16, `depth ${depth}`);
    assert.equal(plain(parseMarkdown(text)).replace(/[*_]/g, ''), 'x');
  });

  test('nothing typed is lost: unparsed markers come back as text', () => {
    const text = 'a *b **c [d](e) _f ~~g `h';
    assert.equal(plain(parseMarkdown(text)), text);
  });
});

test('plainText reads as the message does, without markers', async () => {
  const { plainText } = await import(join(web, '.unit/ui/markdown.js'));
  assert.equal(plainText('**bold** and _it_ `code` [site](https://example.com) @ana'), 'bold and it code site @ana');
  assert.equal(plainText('2*3*4 snake_case'), '2*3*4 snake_case');
});
