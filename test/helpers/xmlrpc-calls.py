#!/usr/bin/env python3
"""XML-RPC calls made with Python's standard xmlrpc.client, connected the way pwclient connects (a ServerProxy with
allow_none, HTTP Basic credentials in the host part), and what came back printed as JSON for the tests.

stdin:  {"url": "http://127.0.0.1:PORT/xmlrpc/", "calls": [{"method": "...", "params": [...],
         "username": "...", "password": "..."}, ...]}   (username and password only where a call logs in)
stdout: a JSON list with one entry per call: {"result": VALUE}, {"fault": {"code": N, "string": "..."}}
        or {"error": "..."} (a transport or protocol error). Values that came as <base64> (Python bytes, which
        Patchwork sends for several fields) are {"bytes": "<their UTF-8 text>"}.
"""
import json
import sys
import urllib.parse
import xmlrpc.client


def plain(value):
    if isinstance(value, xmlrpc.client.Binary):
        return {'bytes': value.data.decode('utf-8')}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def proxy(url, username=None, password=None):
    if username is not None:
        parts = urllib.parse.urlsplit(url)
        auth = urllib.parse.quote(username, safe='') + ':' + urllib.parse.quote(password or '', safe='')
        url = urllib.parse.urlunsplit(parts._replace(netloc=auth + '@' + parts.netloc))
    return xmlrpc.client.ServerProxy(url, allow_none=True)


def main():
    request = json.load(sys.stdin)
    out = []
    for call in request['calls']:
        server = proxy(request['url'], call.get('username'), call.get('password'))
        try:
            result = getattr(server, call['method'])(*call.get('params', []))
            out.append({'result': plain(result)})
        except xmlrpc.client.Fault as fault:
            out.append({'fault': {'code': fault.faultCode, 'string': fault.faultString}})
        except (xmlrpc.client.ProtocolError, OSError, xmlrpc.client.ResponseError) as e:
            out.append({'error': repr(e)})
    json.dump(out, sys.stdout, ensure_ascii=False)


if __name__ == '__main__':
    main()
