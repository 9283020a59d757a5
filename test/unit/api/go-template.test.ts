// The Go text/template subset of `tsweave report -f`: each construct against the output Go's text/template
// gives for the same template and data, each error with its position, and hostile templates stopping.
import { describe, test } from 'vitest';
import assert from 'node:assert/strict';
import { goMap, sprintf } from '../../../src/api/go-fmt.js';
import { MAX_TEMPLATE_CHARS, TemplateError } from '../../../src/api/go-template.js';
import { goJson, renderTemplate } from '../../../src/api/go-template-exec.js';
import { ConfigError } from '../../../src/core/errors.js';

const DATA = {
  Version: '2.8.1',
  Router: {
    Name: 'aa:bb:cc:dd:ee:01', NickName: 'host1', Port: 6783, Encryption: false,
    Peers: [{ Name: 'aa:bb:cc:dd:ee:01', NickName: 'host1' }, { Name: 'aa:bb:cc:dd:ee:02', NickName: 'host2' }],
    Connections: [
      { Address: '10.0.0.2:6783', Outbound: true, State: 'established', Attrs: goMap({ name: 'sleeve', mtu: 1376 }) },
      { Address: '10.0.0.3:40000', Outbound: false, State: 'failed', Attrs: null },
    ],
    Targets: [] as string[],
  },
  DNS: { Domain: 'weave.local.', Upstream: ['8.8.8.8'], TTL: 1, Entries: null },
};

const r = (t: string, data: unknown = DATA): string => renderTemplate('report', t, data);

function fails(t: string, msg: RegExp, data: unknown = DATA): void {
  assert.throws(() => r(t, data), (e: unknown) => {
    assert.ok(e instanceof TemplateError && e instanceof ConfigError, String(e));
    assert.match(e.message, msg);
    return true;
  });
}

describe('constructs', () => {
  test('field paths, dot, text around actions', () => {
    assert.equal(r('{{.Router.Name}}'), 'aa:bb:cc:dd:ee:01');
    assert.equal(r('v={{ .Version }}!'), 'v=2.8.1!');
    assert.equal(r('{{.Router.Port}} {{.Router.Encryption}}'), '6783 false');
    assert.equal(r('{{.}}', 'x'), 'x');
    assert.equal(r('{{.DNS.Upstream}}'), '[8.8.8.8]');
    assert.equal(r('{{.DNS.Entries}}'), '<nil>');
    assert.equal(r('{{(index .Router.Connections 0).Attrs}}'), 'map[mtu:1376 name:sleeve]');
    assert.equal(r('{{(index .Router.Connections 0).Attrs.missing}}'), '<no value>'); // a map's zero value
    assert.equal(r('{{.}}', { A: 1, B: [true, 'x'] }), '{1 [true x]}');
  });

  test('range with else, over lists, nil and maps, with variables', () => {
    assert.equal(r('{{range .Router.Peers}}{{.NickName}},{{end}}'), 'host1,host2,');
    assert.equal(r('{{range .DNS.Entries}}x{{else}}none{{end}}'), 'none');
    assert.equal(r('{{range .Router.Targets}}x{{else}}no targets{{end}}'), 'no targets');
    assert.equal(r('{{range $i, $p := .Router.Peers}}{{$i}}:{{$p.NickName}} {{end}}'), '0:host1 1:host2 ');
    assert.equal(r('{{range $k, $v := (index .Router.Connections 0).Attrs}}{{$k}}={{$v}};{{end}}'), 'mtu=1376;name=sleeve;');
    assert.equal(r('{{range .Router.Peers}}{{$.Version}}{{end}}'), '2.8.1' + '2.8.1');
    assert.equal(r('{{$n := .Router.NickName}}[{{$n}}]'), '[host1]');
  });

  test('if / else if / else / with and Go truthiness', () => {
    assert.equal(r('{{range .Router.Connections}}{{if .Outbound}}->{{else}}<-{{end}}{{end}}'), '-><-');
    assert.equal(r('{{if .Router.Targets}}t{{else if .Router.Peers}}p{{else}}n{{end}}'), 'p');
    for (const [v, want] of [[0, 'f'], [1, 't'], ['', 'f'], ['a', 't'], [[], 'f'], [[0], 't'], [null, 'f'],
      [goMap({}), 'f'], [{}, 't'], [false, 'f']] as const) {
      assert.equal(r('{{if .}}t{{else}}f{{end}}', v), want, JSON.stringify(v));
    }
    assert.equal(r('{{with .DNS}}{{.Domain}}{{end}}'), 'weave.local.');
    assert.equal(r('{{with .DNS.Entries}}x{{else}}empty{{end}}'), 'empty');
  });

  test('printf with Go verbs, flags and widths', () => {
    assert.equal(r('{{printf "%-21v|" .Router.Name}}'), 'aa:bb:cc:dd:ee:01    |');
    assert.equal(r('{{printf "%5d|%-5d|%05d" 42 42 42}}'), '   42|42   |00042');
    assert.equal(r('{{printf "%q %s %v %t" "a\\"b" "s" 1.5 true}}'), '"a\\"b" s 1.5 true');
    assert.equal(r('{{printf "%x %X %o %b %%" 255 255 8 5}}'), 'ff FF 10 101 %');
    assert.equal(r('{{printf "%.2f %6.1f %e" 3.14159 2.0 1500.0}}'), '3.14    2.0 1.500000e+03');
    assert.equal(r('{{printf "%d" "x"}}'), '%!d(string=x)');
    assert.equal(r('{{printf "%s %s" "a"}}'), 'a %!s(MISSING)');
    assert.equal(r('{{printf "%s" "a" 1}}'), 'a%!(EXTRA int=1)');
    assert.equal(r('{{printf "%+v" .DNS}}'), '{Domain:weave.local. Upstream:[8.8.8.8] TTL:1 Entries:<nil>}');
    assert.equal(sprintf('%q', ['tab\there\x01é']), '"tab\\there\\x01é"');
  });

  test('len, index, print, println, and/or/not, comparisons', () => {
    assert.equal(r('{{len .Router.Peers}} {{len .Router.Name}} {{len "é"}}'), '2 17 2'); // Go counts bytes
    assert.equal(r('{{index .Router.Peers 1 | printf "%v"}}'), '{aa:bb:cc:dd:ee:02 host2}');
    assert.equal(r('{{(index .Router.Peers 1).NickName}}'), 'host2');
    assert.equal(r('{{print 1 2 "a" 3}}|{{println 1 "b"}}'), '1 2a3|1 b\n');
    assert.equal(r('{{and 1 0 2}} {{or 0 "" "x"}} {{not .Router.Targets}}'), '0 x true');
    assert.equal(r('{{eq .Router.NickName "host1"}} {{eq 1 2 3 1}} {{ne "a" "b"}}'), 'true true true');
    assert.equal(r('{{lt 1 2}} {{le 2 2}} {{gt "b" "a"}} {{ge 1 2}}'), 'true true true false');
    assert.equal(r('{{if eq (len .Router.Peers) 2}}two{{end}}'), 'two');
  });

  test('json (Weave\'s function), pipelines and parentheses', () => {
    assert.equal(r('{{json .DNS}}'), '{"Domain":"weave.local.","Upstream":["8.8.8.8"],"TTL":1,"Entries":null}');
    assert.equal(r('{{.DNS | json}}'), r('{{json .DNS}}'));
    assert.equal(r('{{.Router.NickName | printf "%s!" | printf "[%s]"}}'), '[host1!]');
    assert.equal(goJson('<a&b>'), '"\\u003ca\\u0026b\\u003e"'); // Go's json.Marshal escapes HTML characters
  });

  test('trim markers, comments, "\\n" in a string literal, raw strings', () => {
    assert.equal(r('a  \n {{- .Version -}} \n  b'), 'a2.8.1b');
    assert.equal(r('a {{/* note */}}b {{- /* trimmed */ -}} c'), 'a bc');
    assert.equal(r('{{range .Router.Peers}}{{.NickName}}{{"\\n"}}{{end}}'), 'host1\nhost2\n');
    assert.equal(r('{{`raw\\n`}}'), 'raw\\n');
    assert.equal(r('{{.Version}}\\n'), '2.8.1\\n'); // text outside actions is copied as is, as Go does
  });
});

describe('errors name the template, the position and the rule', () => {
  test('parse errors', () => {
    fails('{{.Router.Name', /^template report:1:1: unclosed action$/);
    fails('ok\n  {{range .X}}', /^template report:2:15: unexpected EOF: a block is not closed with \{\{end\}\}$/);
    fails('{{foo .X}}', /^template report:1:3: function "foo" not defined$/);
    fails('{{end}}', /1:3: unexpected \{\{end\}\}/);
    fails('{{"a\\q"}}', /invalid escape sequence "\\q"/);
    fails('{{"abc}}', /unterminated quoted string/);
    fails('{{.A 1}}', /can't give argument to non-function "\.A"/);
    fails('{{$x}}', /undefined variable "\$x"/);
    fails('{{if}}{{end}}', /missing value for if/);
    fails('{{}}', /missing value for command/);
    fails('{{.A | .B}}', /non-function in a pipeline/);
    fails('{{define "x"}}{{end}}', /\{\{define\}\} is not supported/);
    fails('{{/* x */ .A}}', /comment ends before closing delimiter/);
    fails('{{(.A}}', /unclosed left paren/);
    fails('{{.A @}}', /unexpected character "@" in action/);
  });

  test('execution errors', () => {
    fails('{{.Router.Nmae}}', /^template report:1:3: executing at <\.Router\.Nmae>: can't evaluate field Nmae in type struct \(\.Router has Name, NickName, Port, Encryption, Peers, Connections, Targets\)$/);
    fails('{{.Nope}}', /can't evaluate field Nope in type struct \(\. has Version, Router, DNS\)$/);
    fails('{{.Version.X}}', /can't evaluate field X in type string$/);
    fails('{{.DNS.Entries.Foo}}', /nil pointer evaluating \.DNS\.Entries\.Foo/);
    fails('{{index .Router.Peers 5}}', /error calling index: index out of range: 5/);
    fails('{{eq 1 "a"}}', /error calling eq: incompatible types for comparison/);
    fails('{{lt true false}}', /error calling lt: invalid type for comparison/);
    fails('{{eq .Router.Peers 1}}', /non-comparable type/);
    fails('{{len 3}}', /error calling len: len of type int/);
    fails('{{not}}', /wrong number of args for not: want 1 got 0/);
    fails('{{range .Router.Port}}{{end}}', /range can't iterate over 6783/);
    fails('{{printf 3}}', /error calling printf: format is int, not string/);
  });
});

describe('hostile templates are bounded', () => {
  test('too long, nested too deep', () => {
    fails('x'.repeat(MAX_TEMPLATE_CHARS + 1), /over the limit of 16384/);
    fails('{{if 1}}'.repeat(65) + '{{end}}'.repeat(65), /blocks nested deeper than 64/);
    fails(`{{${'('.repeat(70)}1${')'.repeat(70)}}}`, /parentheses nested deeper than 64/);
  });

  test('ranges within ranges stop at the step limit; huge output stops at the size limit', () => {
    const big = { L: Array.from({ length: 1000 }, (_, i) => i) };
    const t = '{{range .L}}{{range $.L}}{{range $.L}}x{{end}}{{end}}{{end}}';
    const started = Date.now();
    fails(t, /^template report:1:39: executing at <x>: stopped after 100000 steps/, big);
    assert.ok(Date.now() - started < 10_000);
    assert.throws(() => renderTemplate('r', '{{range .L}}{{printf "%1000d" 1}}{{end}}', big, { maxOutput: 100_000 }),
      /output is over the limit of 100000 bytes/);
    fails('{{printf "%999999999d" 1}}', /width or precision 999999999 is over the limit of 1000/);
  });

  test('random templates never throw anything but a TemplateError', () => {
    const pieces = ['{{', '}}', '{{-', '-}}', '.Router', '.Name', 'range', 'if', 'else', 'end', '(', ')', '|', 'printf',
      '"%v"', '$x', ':=', 'index', '1', 'json', 'len', ' ', 'with', '$', '.', '"', '`', 'eq', '/*', '*/'];
    let seed = 1;
    const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
    for (let i = 0; i < 3000; i++) {
      const t = Array.from({ length: 1 + rnd(14) }, () => pieces[rnd(pieces.length)]).join('');
      try {
        r(t);
      } catch (e) {
        assert.ok(e instanceof TemplateError, `${JSON.stringify(t)} threw ${String(e)}`);
      }
    }
  });
});
