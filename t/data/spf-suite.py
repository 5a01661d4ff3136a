# Converts the openspf RFC 7208 suite (YAML) to the line format that
# src/lib/spf/suite.rs reads: Z scenario name type hex-value, and
# T scenario test hex-helo host hex-mailfrom results hex-explanation receiver.
import yaml, sys
out = sys.stdout
for si, sc in enumerate(yaml.safe_load_all(open(sys.argv[1],'rb'))):
    if not sc: continue
    for name, recs in sc['zonedata'].items():
        gen=[]; has_txt=False
        items=[]
        for m in recs:
            if m == 'TIMEOUT':
                items.append(('TIMEOUT','')); continue
            for t,v in m.items():
                if t in ('TXT','SPF') and isinstance(v,str): v=[v]
                if t=='TXT': has_txt=True
                if t=='SPF': gen.append(v); continue
                if v==['NONE']: continue
                if v=='TIMEOUT': items.append((t+'-TIMEOUT','')); continue
                if t=='TXT': items.append(('TXT','\x1f'.join(v)))
                elif t=='MX': items.append(('MX','%d %s'%(v[0],v[1])))
                else: items.append((t,str(v)))
        if not has_txt:
            for v in gen: items.append(('TXT','\x1f'.join(v)))
        for t,v in items:
            out.write('Z\t%d\t%s\t%s\t%s\n'%(si,name.lower(),t,v.encode('utf-8','surrogateescape').hex()))
    for tn, t in sc['tests'].items():
        res = t['result']; res = res if isinstance(res,list) else [res]
        exp = t.get('explanation')
        out.write('T\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n'%(si,tn,str(t.get('helo','')).encode().hex(),t['host'],str(t.get('mailfrom','')).encode().hex(),','.join(res), (exp or '').encode().hex() if exp is not None else '-', t.get('receiver','-')))
