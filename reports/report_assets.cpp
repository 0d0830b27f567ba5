#include "reports/report_assets.h"

namespace assay::report_assets {

const char* const kCss = R"CSS(
:root{--fg:#1d2330;--muted:#5b6475;--line:#dfe3ea;--bg:#fff;--band:#f5f7fa;--bad:#b3261e;--good:#1b7a3a;
--r0:#3b6fd8;--r1:#e07b24;--r2:#2a9d8f;--r3:#9b5de5;--r4:#c44569;--r5:#6c757d}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg)}
header{padding:16px 24px 8px;border-bottom:1px solid var(--line);background:var(--band)}
h1{font-size:20px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.meta,.note{color:var(--muted);margin:4px 0 8px}
nav a{margin-right:12px;color:var(--r0);text-decoration:none}
main{padding:0 24px 40px}
.scroll{overflow-x:auto}
table{border-collapse:collapse;font-variant-numeric:tabular-nums}
th,td{border-bottom:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
thead th{position:sticky;top:0;background:var(--band);cursor:pointer;white-space:nowrap}
th[aria-sort=ascending]::after{content:" ▴"}th[aria-sort=descending]::after{content:" ▾"}
table.kv th{background:var(--band);white-space:nowrap}
td.num{text-align:right;white-space:nowrap}
td.worse{color:var(--bad);font-weight:600}td.better{color:var(--good);font-weight:600}
tr.group>td:first-child{cursor:pointer;font-weight:600}
tr.hidden{display:none}
.fold{display:inline-block;transition:transform .1s}tr.group:not(.open) .fold{transform:rotate(-90deg)}
.leaf{display:inline-block;width:.8em}
pre{white-space:pre-wrap;word-break:break-word;margin:4px 0;padding:6px 8px;background:var(--band);border-radius:4px;font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,monospace}
pre.cfg{max-height:420px;overflow:auto;min-width:320px}
svg.chart{max-width:100%;height:auto;font-size:11px}
svg .label{text-anchor:end;fill:var(--fg)}svg .val,svg .axis{fill:var(--muted)}svg .axis{text-anchor:middle}
svg .grid{stroke:var(--line)}
.r0{fill:var(--r0);background:var(--r0)}.r1{fill:var(--r1);background:var(--r1)}.r2{fill:var(--r2);background:var(--r2)}
.r3{fill:var(--r3);background:var(--r3)}.r4{fill:var(--r4);background:var(--r4)}.r5{fill:var(--r5);background:var(--r5)}
.legend span{margin-right:14px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
figure{margin:8px 0}figcaption{color:var(--muted);margin-bottom:4px}
.controls{display:flex;gap:8px;flex-wrap:wrap;margin:8px 0}
.controls input[type=search]{min-width:260px}
.pager{margin:6px 0;color:var(--muted)}.pager button{margin:0 4px}
.rows .row{border-bottom:1px solid var(--line);padding:4px 2px}
.row .head{cursor:pointer;display:flex;gap:8px;align-items:baseline;flex-wrap:wrap}
.row .task{font-weight:600}.row .id{color:var(--muted)}
.row .snippet{color:var(--muted);overflow:hidden;text-overflow:ellipsis;white-space:nowrap;flex:1 1 200px;min-width:0}
.badge{border-radius:3px;padding:0 5px;font-size:12px;white-space:nowrap;border:1px solid var(--line)}
.badge.right{background:#e3f4e8;color:var(--good)}.badge.wrong{background:#fbe4e2;color:var(--bad)}
.badge.error{background:#fff3cd;color:#7a5b00}.badge.absent,.badge.unscored{color:var(--muted)}
.flip{font-weight:600}.flip.down{color:var(--bad)}.flip.up{color:var(--good)}
.detail{margin:6px 0 8px 12px}.detail table{margin:4px 0}
.detail td.chosen{font-weight:700}.detail .gold{color:var(--good);font-weight:700}
.errmsg{color:#7a5b00}
@media print{
 thead th{position:static}
 nav,.controls,.pager{display:none}
 tr.hidden{display:table-row}
 header{background:none}
 a{color:inherit}
 details>summary{list-style:none}
 pre.cfg{max-height:none}
 section{break-inside:auto}h2{break-after:avoid}
}
)CSS";

const char* const kHeadJs = R"JS(
(function(){var r=document.documentElement;r.setAttribute('data-js-errors','0');r.setAttribute('data-csp-violations','0');
function bump(a){r.setAttribute(a,String(+(r.getAttribute(a)||0)+1));}
window.addEventListener('error',function(e){bump('data-js-errors');r.setAttribute('data-last-error',String(e.message).slice(0,300));});
window.addEventListener('unhandledrejection',function(e){bump('data-js-errors');r.setAttribute('data-last-error',String(e.reason).slice(0,300));});
document.addEventListener('securitypolicyviolation',function(e){bump('data-csp-violations');r.setAttribute('data-last-violation',String(e.blockedURI)+' '+e.violatedDirective);});
var ce=console.error;console.error=function(){bump('data-js-errors');return ce.apply(console,arguments);};})();
)JS";

// Data layout (report.cpp, data_blob): runs[r] labels; tasks[t] names; str[] shared strings
// (prompt heads, options); docs[d] = [task, doc_id, head (str index or -1), prompt tail,
// [option str indexes], target (option index or string), filter (0 = "none")];
// out[r][d] = 0 when run r lacks the document, else [score|null, responses, answer, error?]
// where an answer is an option index, a string or null.
const char* const kJs = R"JS(
(function(){
'use strict';
var root=document.documentElement;
function el(tag,cls,text){var e=document.createElement(tag);if(cls)e.className=cls;if(text!==undefined&&text!==null)e.textContent=String(text);return e;}

// ---- task table: folding and sorting (rows stay server-rendered, JS only reorders them)
(function(){
  var table=document.getElementById('task-table');if(!table)return;
  var tbody=table.tBodies[0],rows=Array.prototype.slice.call(tbody.rows),byId={},kids={};
  rows.forEach(function(r){byId[r.dataset.node]=r;(kids[r.dataset.parent]=kids[r.dataset.parent]||[]).push(r);});
  function refresh(){rows.forEach(function(r){var p=r.dataset.parent,vis=true;
    while(p!=='-1'){var pr=byId[p];if(!pr.classList.contains('open')){vis=false;break;}p=pr.dataset.parent;}
    r.classList.toggle('hidden',!vis);});}
  rows.forEach(function(r){if(!r.classList.contains('group'))return;
    if(r.dataset.depth==='0')r.classList.add('open');
    r.cells[0].addEventListener('click',function(){r.classList.toggle('open');refresh();});});
  refresh();
  var sortCol=-1,sortDir=1;
  Array.prototype.forEach.call(table.tHead.rows[0].cells,function(th,c){
    th.addEventListener('click',function(){
      var num=th.dataset.type==='num';
      sortDir=sortCol===c?-sortDir:(num?-1:1);sortCol=c;
      function cmp(a,b){var x=a.cells[c].dataset.v,y=b.cells[c].dataset.v;
        if(num){x=x===''?NaN:+x;y=y===''?NaN:+y;if(isNaN(x)&&isNaN(y))return 0;if(isNaN(x))return 1;if(isNaN(y))return -1;return (x-y)*sortDir;}
        return String(x).localeCompare(String(y))*sortDir;}
      var frag=document.createDocumentFragment();
      (function walk(p){(kids[p]||[]).slice().sort(cmp).forEach(function(r){frag.appendChild(r);walk(r.dataset.node);});})('-1');
      tbody.appendChild(frag);
      Array.prototype.forEach.call(table.tHead.rows[0].cells,function(t){t.removeAttribute('aria-sort');});
      th.setAttribute('aria-sort',sortDir>0?'ascending':'descending');
    });
  });
})();

// ---- samples
var D=JSON.parse(document.getElementById('assay-data').textContent);
var R=D.runs.length,N=D.docs.length;
function state(o){if(!o)return 'absent';if(o.length>3)return 'error';if(o[0]===null)return 'unscored';return o[0]>0?'right':'wrong';}
function isBin(o){return o&&o.length<=3&&(o[0]===0||o[0]===1);}
function optText(doc,i){var s=D.str[doc[4][i]];return s===undefined?'':s;}
function answerText(doc,a){if(a===null||a===undefined)return '—';if(typeof a==='number')return optText(doc,a).trim()+' (option '+a+')';return a;}
function badge(r,o){var s=state(o),t;
  if(s==='right'||s==='wrong')t=(s==='right'?'✓ ':'✗ ')+o[0];else if(s==='error')t='⚠ infrastructure error';else if(s==='absent')t='—';else t='not scored';
  return el('span','badge '+s,(R>1?D.runs[r]+': ':'')+t);}
function flipOf(d,r){var a=D.out[0][d],b=D.out[r][d];if(!isBin(a)||!isBin(b)||a[0]===b[0])return 0;return a[0]>b[0]?-1:1;}

function detail(d){
  var doc=D.docs[d],box=el('div','detail');
  if(doc[2]>=0){var det=el('details');det.append(el('summary',null,'prompt head (few-shot context, '+D.str[doc[2]].length+' characters)'),el('pre',null,D.str[doc[2]]));box.append(det);}
  box.append(el('div',null,'Prompt:'),el('pre','prompt',doc[3]));
  var opts=doc[4],mc=opts.length>1;
  if(mc){
    var t=el('table'),hr=el('tr');hr.append(el('th',null,'#'),el('th',null,'option'));
    for(var r=0;r<R;r++)hr.append(el('th',null,(R>1?D.runs[r]+' ':'')+'log-likelihood'));
    t.append(hr);
    for(var i=0;i<opts.length;i++){
      var tr=el('tr');tr.append(el('td',null,i));
      var oc=el('td',doc[5]===i?'gold':null,JSON.stringify(optText(doc,i))+(doc[5]===i?'  ← target':''));tr.append(oc);
      for(r=0;r<R;r++){var o=D.out[r][d],c;
        if(!o||o.length>3)c=el('td',null,'—');
        else c=el('td',o[2]===i?'chosen':null,(o[1][i]===null||o[1][i]===undefined?'—':String(o[1][i]))+(o[2]===i?'  ◀ answer':''));
        tr.append(c);}
      t.append(tr);}
    box.append(t);
  }else if(opts.length===1){box.append(el('div',null,'Arguments:'),el('pre',null,optText(doc,0)));}
  box.append(el('div',null,'Target: '+(typeof doc[5]==='number'&&mc?answerText(doc,doc[5]):doc[5])));
  for(var k=0;k<R;k++){
    var o2=D.out[k][d],line=el('div');line.append(el('b',null,D.runs[k]+': '));
    if(!o2){line.append(el('span',null,'not in this run'));}
    else if(o2.length>3){line.append(el('span','errmsg','infrastructure error, not scored (see Errors)'));}
    else{line.append(el('span',null,'answer '+answerText(doc,o2[2])+' · score '+(o2[0]===null?'—':o2[0])));
      if(!mc){for(var j=0;j<o2[1].length;j++)line.append(el('pre',null,typeof o2[1][j]==='string'?o2[1][j]:JSON.stringify(o2[1][j])));}}
    box.append(line);}
  return box;
}
function docRow(d){
  var doc=D.docs[d],row=el('div','row'),head=el('div','head');row.dataset.doc=d;
  head.append(el('span','task',D.tasks[doc[0]]),el('span','id','#'+doc[1]+(doc[6]?' · '+doc[6]:'')));
  for(var r=0;r<R;r++)head.append(badge(r,D.out[r][d]));
  for(r=1;r<R;r++){var f=flipOf(d,r);if(f)head.append(el('span','flip '+(f<0?'down':'up'),(f<0?'↓ right→wrong':'↑ wrong→right')+(R>2?' ('+D.runs[r]+')':'')));}
  head.append(el('span','snippet',doc[3].slice(0,160)));
  row.append(head);
  head.addEventListener('click',function(){var x=row.querySelector('.detail');if(x)x.remove();else row.append(detail(d));});
  return row;
}
function makeList(container,render,pageSize){
  var pager=el('div','pager'),prev=el('button',null,'‹ prev'),label=el('span'),next=el('button',null,'next ›'),body=el('div','rows');
  prev.type=next.type='button';pager.append(prev,label,next);container.append(pager,body);
  var items=[],page=0;
  function draw(){var pages=Math.max(1,Math.ceil(items.length/pageSize));page=Math.max(0,Math.min(page,pages-1));
    label.textContent=' '+items.length+' match'+(items.length===1?'':'es')+' · page '+(page+1)+' of '+pages+' ';
    prev.disabled=page===0;next.disabled=page>=pages-1;
    var frag=document.createDocumentFragment();
    for(var i=page*pageSize;i<Math.min(items.length,(page+1)*pageSize);i++)frag.append(render(items[i]));
    body.replaceChildren(frag);}
  prev.addEventListener('click',function(){page--;draw();});next.addEventListener('click',function(){page++;draw();});
  return {set:function(x){items=x;page=0;draw();}};
}

// Drill-down with filters.
var controls=document.getElementById('sample-controls'),list=makeList(document.getElementById('sample-list'),docRow,50);
var taskSel=el('select'),runSel=el('select'),outSel=el('select'),search=el('input');
taskSel.append(new Option('all tasks',''));
D.tasks.map(function(t,i){return [t,i];}).sort(function(a,b){return a[0]<b[0]?-1:1;}).forEach(function(p){taskSel.append(new Option(p[0],String(p[1])));});
D.runs.forEach(function(l,i){runSel.append(new Option('outcome in '+l,String(i)));});
[['all','all outcomes'],['right','correct'],['wrong','incorrect']].concat(R>1?[['down','right→wrong vs '+D.runs[0]],['up','wrong→right vs '+D.runs[0]]]:[]).forEach(function(p){outSel.append(new Option(p[1],p[0]));});
search.type='search';search.placeholder='search prompt, target, answer';
controls.append(taskSel,runSel,outSel,search);
if(R<2)runSel.style.display='none';
var hay=null;
function haystack(){if(hay)return hay;hay=new Array(N);
  for(var d=0;d<N;d++){var doc=D.docs[d],s=D.tasks[doc[0]]+' '+doc[3]+' '+(typeof doc[5]==='string'?doc[5]:optText(doc,doc[5]));
    for(var r=0;r<R;r++){var o=D.out[r][d];if(o&&o.length<=3&&typeof o[2]==='string')s+=' '+o[2];}
    hay[d]=s.toLowerCase();}
  return hay;}
function apply(){
  var t=taskSel.value===''?-1:+taskSel.value,r=+runSel.value,w=outSel.value,q=search.value.trim().toLowerCase(),h=q?haystack():null,items=[];
  for(var d=0;d<N;d++){
    if(t>=0&&D.docs[d][0]!==t)continue;
    var o=D.out[r][d];
    if(w==='right'||w==='wrong'){if(state(o)!==w)continue;}
    else if(w==='down'||w==='up'){var rr=r>0?r:1,f=flipOf(d,rr);if(f!==(w==='down'?-1:1))continue;}
    if(q&&h[d].indexOf(q)<0)continue;
    items.push(d);}
  list.set(items);
}
var timer=0;
[taskSel,runSel,outSel].forEach(function(s){s.addEventListener('change',apply);});
search.addEventListener('input',function(){clearTimeout(timer);timer=setTimeout(apply,150);});
apply();

// Flips against the baseline.
var flipBox=document.getElementById('flip-list');
if(flipBox){var flips=[];for(var d=0;d<N;d++){for(var r=1;r<R;r++){if(flipOf(d,r)){flips.push(d);break;}}}
  makeList(flipBox,docRow,50).set(flips);}

// Infrastructure errors, one row per failed sample.
var errBox=document.getElementById('error-list');
if(errBox){var errs=[];for(var r2=0;r2<R;r2++)for(var d2=0;d2<N;d2++){var o=D.out[r2][d2];if(o&&o.length>3)errs.push([r2,d2]);}
  makeList(errBox,function(p){var doc=D.docs[p[1]],row=el('div','row'),head=el('div','head');
    head.append(el('span','badge error',D.runs[p[0]]),el('span','task',D.tasks[doc[0]]),el('span','id','#'+doc[1]),el('span','errmsg',D.out[p[0]][p[1]][3]));
    row.append(head);return row;},50).set(errs);}

root.setAttribute('data-sample-docs',String(N));
root.setAttribute('data-render-ms',performance.now().toFixed(1));
root.setAttribute('data-render','ok');
})();
)JS";

}  // namespace assay::report_assets
